package setup

import "errors"

// ErrElevationCancelled means the user declined the UAC prompt.
var ErrElevationCancelled = errors.New("elevation cancelled at the UAC prompt")

// ErrElevationUnsupported means this system has no way to elevate a process (not
// Windows).
var ErrElevationUnsupported = errors.New("elevation is only supported on Windows")
