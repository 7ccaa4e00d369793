package winengine

// Callbacks from fwpuclnt.dll (net events, object changes) reach Go through
// windows.NewCallback trampolines, made once per callback signature and process
// (their number per process is limited and they are never freed), and a context
// argument that is a key into callbackContexts, never a Go pointer: C may keep the
// context after Go has moved or collected what a pointer would point to.
var callbackContexts = &callbackRegistry{fns: map[uintptr]any{}, next: 1}
