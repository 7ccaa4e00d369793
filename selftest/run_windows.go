//go:build windows

package selftest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"github.com/wfpsandbox/wfpsandbox/events"
	"github.com/wfpsandbox/wfpsandbox/internal/winapi"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/selftest/probe"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/winengine"
)

// probeTimeout bounds one probe run, children included.
const probeTimeout = 3 * time.Minute

// Run is the selftest (README "Check it on your host"). In order:
//
//  1. refuse unless elevated; read the host facts; open the crash record (journal.go,
//     sweep_windows.go): take the selftest lock (another selftest running: refuse),
//     sweep what a run that died left, and from here on record each thing the prober
//     makes before making it;
//  2. open a FWPM_SESSION_FLAG_DYNAMIC session — everything added through it is deleted
//     by BFE when the session ends, also when this process is killed — and refuse to go
//     on while objects of the selftest's provider exist (another selftest is running);
//  3. create the temporary account (deleted with its profile at the end, also on
//     failure and Ctrl+C, unless KeepAccount), a work directory every token shape can
//     use, a copy of this executable in it (the probe helper is its hidden
//     selftest-probe subcommand), a loopback exemption for the probe's AppContainer
//     (restored at the end), and listeners on this host's own addresses;
//  4. control: every identity makes its attempts with nothing of ours installed;
//  5. install the plan policy.Build makes for the account, as a DynamicPlan, in one
//     transaction; read it back; compare a provider-scoped enumeration with a full one;
//  6. every identity makes its attempts again;
//  7. close the session (the plan vanishes), check nothing is left, clean up.
//
// Steps 3, 4 and 6 are the Prober's (prober_windows.go), which NewProber makes the same
// way for the integration suite, so both run one code path.
//
// The returned report is never nil once Run has started; err is the first step that
// failed (also in the report's Errors). Whatever was not run is in the report's NotRun.
func Run(ctx context.Context, opts RunOptions) (rep *Report, err error) {
	log := opts.logger()
	rep = NewReport(opts.Config, opts.Version, time.Now())
	defer func() {
		rep.Finished = time.Now()
		rep.Evaluate()
	}()
	fail := func(e error) (*Report, error) {
		rep.Errors = append(rep.Errors, e.Error())
		return rep, e
	}
	rep.Host = hostFacts()
	if on, err := firewallProfiles(); err != nil {
		rep.NotRun = append(rep.NotRun, "Windows Firewall state per profile: "+err.Error())
	} else {
		rep.Host.FirewallOn = on
	}
	if !rep.Host.Elevated {
		return fail(errors.New("run the selftest from an elevated (administrator) prompt: it creates a temporary local account and adds WFP filters; nothing was changed"))
	}
	// The crash record: the lock (one selftest at a time), the sweep of what a run that
	// died left, and an entry before each thing the prober makes (sweep_windows.go).
	j, err := beginCrashRecord(opts, rep, log)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if left := j.Left(); len(left) > 0 {
			rep.NotRun = append(rep.NotRun, fmt.Sprintf("cleanup: %d things are left and stay in the crash record %s; the next selftest removes them: %v", len(left), j.Path(), left))
		}
		if cerr := j.Close(); cerr != nil {
			rep.Errors = append(rep.Errors, cerr.Error())
		}
	}()

	e, err := winengine.Open(winengine.Options{Name: "wfpsandbox selftest",
		Description: "temporary objects of wfpsandbox selftest; removed when this session ends", Dynamic: true})
	if err != nil {
		return fail(fmt.Errorf("open a dynamic WFP session (FwpmEngineOpen0, FWPM_SESSION_FLAG_DYNAMIC): %w", err))
	}
	engineOpen := true
	closeEngine := func() {
		if engineOpen {
			engineOpen = false
			// FwpmEngineClose0 of a dynamic session: BFE deletes every object it added.
			if cerr := e.Close(); cerr != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("FwpmEngineClose0: %v", cerr))
			}
		}
	}
	defer closeEngine()
	if provs, err := e.Providers(); err == nil {
		for _, p := range provs {
			if p.Key == ProviderKey {
				return fail(errors.New("objects of the wfpsandbox selftest provider exist: another selftest is running (they vanish when it ends); nothing was changed"))
			}
			if p.Key != policy.ProviderKey {
				rep.Host.Providers = append(rep.Host.Providers, p.Name)
			}
		}
	} else {
		rep.NotRun = append(rep.NotRun, fmt.Sprintf("other WFP providers: FwpmProviderEnum0: %v", err))
	}

	addrs, own, err := localAddresses()
	if err != nil {
		return fail(err)
	}
	rep.Host.Addresses = addrs

	// The temporary account. From here on every step that succeeded is undone on return
	// (Prober.Close, in reverse: listeners, exemption, work directory, account).
	p := newProber(rep, log, opts.KeepAccount)
	p.j = j
	p.closeBy = cleanupBy(ctx, time.Now)
	defer p.Close()
	acct, err := p.newAccount("temporary account of wfpsandbox selftest; deleted when it ends; safe to delete")
	if err != nil {
		if rep.Host.Wine {
			rehearse(e, opts, rep, closeEngine)
		}
		return fail(err)
	}
	// A new account with a random name cannot have a real install, but say so from the
	// engine rather than assume it: the wfpsandbox provider's objects for this SID would
	// make the account's flows meet two policies.
	if fs, err := e.Filters(&policy.ProviderKey); err != nil {
		rep.NotRun = append(rep.NotRun, fmt.Sprintf("check for wfpsandbox's objects for the account: FwpmFilterEnum0: %v", err))
	} else {
		for _, f := range fs {
			if o, err := policy.ParseOwner(f.ProviderData); err == nil && o.SID == acct.SID {
				return fail(fmt.Errorf("wfpsandbox's persistent filter %s %q is installed for the temporary account %s; nothing was installed", f.Key, f.Name, acct.SID))
			}
		}
	}
	if u, err := windows.GetCurrentProcessToken().GetTokenUser(); err == nil {
		rep.Other = u.User.Sid.String()
	} else {
		return fail(fmt.Errorf("GetTokenInformation(TokenUser): %w", err))
	}

	popts, err := opts.Plan(acct.SID)
	if err != nil {
		return fail(err)
	}
	if err := rep.Config.CheckExtra(popts.Extra); err != nil {
		return fail(err)
	}
	plan, err := policy.Build(popts)
	if err != nil {
		return fail(err)
	}
	dyn, err := DynamicPlan(plan)
	if err != nil {
		return fail(err)
	}

	// The work directory with this executable in it, the AppContainer exemption, one
	// plan per identity and listeners on the union of their targets.
	key := ""
	if len(dyn.Filters) > 0 {
		key = dyn.Filters[0].Key.String()
	}
	if err := p.prepare("", "wfpsandbox-selftest-", addrs, own, key); err != nil {
		return fail(err)
	}

	log.Info("control: probing with nothing of wfpsandbox installed")
	if err := p.Phase(ctx, PhaseControl); err != nil {
		return fail(err)
	}

	log.Info("installing the plan in the dynamic session", "profile", plan.Profile, "userMatch", plan.UserMatch, "filters", len(dyn.Filters))
	if err := Install(e, dyn); err != nil {
		rep.SetCheck(Check{ID: CheckInstall, Ran: true, OK: false, Detail: err.Error()})
		return fail(err)
	}
	rep.SetCheck(Check{ID: CheckInstall, Ran: true, OK: true, Detail: fmt.Sprintf("provider, sublayer and %d filters added in one transaction", len(dyn.Filters))})
	if drift, err := ReadBack(e, dyn); err != nil {
		rep.SetCheck(Check{ID: CheckVerify, Ran: false, Detail: err.Error()})
	} else {
		rep.SetCheck(Check{ID: CheckVerify, Ran: true, OK: len(drift) == 0, Detail: fmt.Sprintf("%d objects read back, drift: %v", 2+len(dyn.Filters), drift)})
	}
	if d, err := EnumScoped(e, ProviderKey); err != nil {
		rep.SetCheck(Check{ID: CheckEnumScoped, Ran: false, Detail: err.Error()})
	} else {
		rep.SetCheck(Check{ID: CheckEnumScoped, Ran: true, OK: d == "", Detail: d})
	}
	rep.SetCheck(NotEqualCheck(e, dyn))

	log.Info("probing with the plan installed")
	policyStart := time.Now()
	if err := p.Phase(ctx, PhasePolicy); err != nil {
		return fail(err)
	}
	// Tie the blocks to filters while the plan still exists (the session is open).
	attribute(e, rep, p.r.windows, policyStart)

	closeEngine()
	if left, err := leftovers(); err != nil {
		rep.SetCheck(Check{ID: CheckCleanup, Ran: false, Detail: err.Error()})
	} else {
		rep.SetCheck(Check{ID: CheckCleanup, Ran: true, OK: left == "", Detail: left})
	}
	return rep, nil
}

// rehearse is what a run under Wine can still do once the temporary account cannot be
// made (Wine's NetUserAdd is a stub, its LookupAccountName then fails): install the
// plan for PlaceholderSID in the dynamic session, read it back, compare the
// enumerations, close the session and check that nothing is left. It records the
// checks with the placeholder named; under Wine no hypothesis is settled by them (see
// evaluateHypotheses), and nothing is installed for any real account.
func rehearse(e *winengine.Engine, opts RunOptions, rep *Report, closeEngine func()) {
	note := func(id string, err error, ok bool, detail string) {
		c := Check{ID: id, Ran: err == nil, OK: err == nil && ok, Detail: "rehearsal under Wine for the placeholder " + PlaceholderSID + ": " + detail}
		if err != nil {
			c.Detail += err.Error()
		}
		rep.SetCheck(c)
	}
	popts, err := opts.Plan(PlaceholderSID)
	if err != nil {
		note(CheckInstall, err, false, "")
		return
	}
	plan, err := policy.Build(popts)
	if err != nil {
		note(CheckInstall, err, false, "")
		return
	}
	dyn, err := DynamicPlan(plan)
	if err != nil {
		note(CheckInstall, err, false, "")
		return
	}
	if err := Install(e, dyn); err != nil {
		rep.SetCheck(Check{ID: CheckInstall, Ran: true, OK: false, Detail: "rehearsal under Wine: " + err.Error()})
		return
	}
	note(CheckInstall, nil, true, fmt.Sprintf("%d filters added in one transaction", len(dyn.Filters)))
	drift, err := ReadBack(e, dyn)
	note(CheckVerify, err, len(drift) == 0, fmt.Sprintf("drift %v", drift))
	d, err := EnumScoped(e, ProviderKey)
	note(CheckEnumScoped, err, d == "", d)
	c := NotEqualCheck(e, dyn)
	c.Detail = "rehearsal under Wine for the placeholder " + PlaceholderSID + ": " + c.Detail
	rep.SetCheck(c)
	closeEngine()
	left, err := leftovers()
	note(CheckCleanup, err, left == "", "after closing the dynamic session: "+orNothing(left))
}

func orNothing(s string) string {
	if s == "" {
		return "nothing of the selftest is left"
	}
	return s
}

// attribute reads the net events logged since the policy phase began, resolves their
// filters (events package) and ties each block to the drop that names its filter
// (Report.Attribute). With collection off it says so in NotRun; a block then counts as
// the policy's because its control succeeded, not because a drop named our filter.
func attribute(e *winengine.Engine, rep *Report, wins []RunWindow, since time.Time) {
	src, _, err := e.NetEventSource(-1)
	if err == nil {
		var raws []wfp.NetEvent
		raws, err = src.Enum(since.Add(-eventSlack))
		if err == nil {
			rep.Host.NetEvents = true
			res := events.NewResolver(e)
			var hidden events.Hidden
			var evs []events.Event
			for _, raw := range raws {
				if ev, ok := events.Process(raw, res, events.Selection{All: true}, &hidden); ok {
					evs = append(evs, ev)
				}
			}
			blocked := 0
			for _, c := range rep.Cells {
				if c.Policy.Outcome == OutcomeBlocked {
					blocked++
				}
			}
			n := rep.Attribute(wins, evs, func(k string) bool { return k == ProviderKey.String() })
			if n < blocked {
				rep.NotRun = append(rep.NotRun, fmt.Sprintf("net event attribution: %d of %d blocks tied to a drop event (the log is a ~128 KB ring; the others count as the policy's because their control succeeded)", n, blocked))
			}
			return
		}
	}
	if errors.Is(err, wfp.ErrNetEventsDisabled) {
		rep.NotRun = append(rep.NotRun, "net event attribution: collection is off (turn it on with 'netsh wfp set options netevents=on' and run again); a block counts as the policy's because its control succeeded, not because a drop named our filter")
		return
	}
	rep.NotRun = append(rep.NotRun, fmt.Sprintf("net event attribution: %v", err))
}

// hostFacts reads what the report says about the host.
func hostFacts() HostFacts {
	h := HostFacts{OS: runtime.GOOS, Arch: runtime.GOARCH, Elevated: windows.GetCurrentProcessToken().IsElevated()}
	v := windows.RtlGetVersion()
	h.Build = fmt.Sprintf("%d.%d.%d", v.MajorVersion, v.MinorVersion, v.BuildNumber)
	if k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Windows NT\CurrentVersion`, registry.QUERY_VALUE); err == nil {
		h.Edition, _, _ = k.GetStringValue("EditionID")
		k.Close()
	}
	// Wine's ntdll exports wine_get_version (documented by Wine, not by Microsoft:
	// gitlab.winehq.org/wine/wine/-/wikis/Developer-FAQ); Windows' does not.
	h.Wine = windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
	return h
}

// firewallProfiles reads whether Windows Firewall is on per profile with the
// documented Get-NetFirewallProfile cmdlet
// (learn.microsoft.com/powershell/module/netsecurity/get-netfirewallprofile), as JSON so
// the output does not depend on the display language. It only reads.
func firewallProfiles() (map[string]bool, error) {
	const script = `Get-NetFirewallProfile | ForEach-Object { [pscustomobject]@{Name = [string]$_.Name; On = ([string]$_.Enabled -eq 'True')} } | ConvertTo-Json -Compress`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "powershell.exe", "-NoProfile", "-NonInteractive", "-Command", script).Output()
	if err != nil {
		return nil, fmt.Errorf("powershell Get-NetFirewallProfile: %w", err)
	}
	var list []struct {
		Name string
		On   bool
	}
	if err := json.Unmarshal(out, &list); err != nil {
		// One profile is printed as an object, not an array.
		var one struct {
			Name string
			On   bool
		}
		if err2 := json.Unmarshal(out, &one); err2 != nil {
			return nil, fmt.Errorf("Get-NetFirewallProfile output %q: %w", out, err)
		}
		list = append(list, one)
	}
	m := map[string]bool{}
	for _, p := range list {
		m[p.Name] = p.On
	}
	return m, nil
}

// localAddresses returns a non-loopback unicast IPv4 and IPv6 address of this host
// (link-local excluded: it needs a zone), and a predicate for "is one of this host's
// addresses" that Listen uses to refuse any other target.
func localAddresses() (Addresses, func(netip.Addr) bool, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return Addresses{}, nil, fmt.Errorf("list this host's interfaces (GetAdaptersAddresses): %w", err)
	}
	var a Addresses
	mine := map[netip.Addr]bool{}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		as, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, x := range as {
			pn, ok := x.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(pn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			mine[ip] = true
			if ip.IsLoopback() || ip.IsLinkLocalUnicast() || !ip.IsGlobalUnicast() {
				continue
			}
			if ip.Is4() && !a.LocalV4.IsValid() {
				a.LocalV4 = ip
			}
			if ip.Is6() && !a.LocalV6.IsValid() {
				a.LocalV6 = ip
			}
		}
	}
	own := func(ip netip.Addr) bool { return ip.IsLoopback() || mine[ip.Unmap()] }
	return a, own, nil
}

// exemptAppContainer adds the probe's AppContainer (probe.AppContainerName; its SID
// is derived from the name alone) to the loopback-exempt list and returns a function
// that removes it again. NetworkIsolationSetAppContainerConfig replaces the whole list
// ("it is the calling program's responsibility to first call the
// NetworkIsolationGetAppContainerConfig function in order to retrieve and preserve the
// app container SIDs already configured",
// learn.microsoft.com/windows/win32/api/netfw/nf-netfw-networkisolationsetappcontainerconfig),
// so both the addition and the removal read the list as it is at that moment and change
// only the probe's entry: an entry someone else adds or removes while the selftest runs
// is kept as they left it (putting back the list read at the start would undo their
// change). record runs just before the list is changed (only when it will be), and
// nothing is changed if it fails.
func exemptAppContainer(record func() error) (func() error, error) {
	sid, err := probeSID()
	if err != nil {
		return nil, err
	}
	list, err := loopbackList()
	if err != nil {
		return nil, err
	}
	for _, s := range list {
		if s.Equals(sid) {
			return func() error { return nil }, nil // already exempt: leave the list alone
		}
	}
	if err := record(); err != nil {
		return nil, fmt.Errorf("record the loopback exemption before adding it: %w", err)
	}
	if err := setLoopbackList(append(list, sid)); err != nil {
		return nil, fmt.Errorf("NetworkIsolationSetAppContainerConfig (add %s): %w", probe.AppContainerName, err)
	}
	return func() error {
		if _, err := removeLoopbackExemption(sid); err != nil {
			return fmt.Errorf("%w — the loopback exemption of %s is left", err, probe.AppContainerName)
		}
		return nil
	}, nil
}

// probeSID is probeAppContainerSID; tests replace it (Wine has no
// DeriveAppContainerSidFromAppContainerName).
var probeSID = probeAppContainerSID

// probeAppContainerSID derives the probe's AppContainer SID from its name.
func probeAppContainerSID() (*windows.SID, error) {
	name, _ := windows.UTF16PtrFromString(probe.AppContainerName)
	var sid *windows.SID
	if err := winapi.DeriveAppContainerSidFromAppContainerName(name, &sid); err != nil {
		return nil, fmt.Errorf("DeriveAppContainerSidFromAppContainerName(%s): %w", probe.AppContainerName, err)
	}
	defer windows.FreeSid(sid)
	return sid.Copy()
}

// removeLoopbackExemption removes sid from the loopback-exempt list as it is now,
// keeping every other entry; removed is false when it was not in the list (nothing is
// changed then).
func removeLoopbackExemption(sid *windows.SID) (removed bool, err error) {
	list, err := loopbackList()
	if err != nil {
		return false, err
	}
	var keep []*windows.SID
	for _, s := range list {
		if s.Equals(sid) {
			removed = true
		} else {
			keep = append(keep, s)
		}
	}
	if !removed {
		return false, nil
	}
	if err := setLoopbackList(keep); err != nil {
		return false, fmt.Errorf("NetworkIsolationSetAppContainerConfig (without %s): %w", sid, err)
	}
	return true, nil
}

// loopbackList reads the loopback-exempt list (NetworkIsolationGetAppContainerConfig),
// copying each SID out of the heap memory it returns; tests replace it.
var loopbackList = func() ([]*windows.SID, error) {
	var n uint32
	var arr *windows.SIDAndAttributes
	if err := winapi.NetworkIsolationGetAppContainerConfig(&n, &arr); err != nil {
		return nil, fmt.Errorf("NetworkIsolationGetAppContainerConfig: %w", err)
	}
	heap, _ := winapi.GetProcessHeap()
	var out []*windows.SID
	var cerr error
	if n > 0 && arr != nil {
		for _, s := range unsafe.Slice(arr, n) {
			if c, err := s.Sid.Copy(); err == nil {
				out = append(out, c)
			} else if cerr == nil {
				cerr = err
			}
			_ = winapi.HeapFree(heap, 0, unsafe.Pointer(s.Sid))
		}
		_ = winapi.HeapFree(heap, 0, unsafe.Pointer(arr))
	}
	if cerr != nil {
		return nil, cerr
	}
	return out, nil
}

// setLoopbackList replaces the loopback-exempt list (NetworkIsolationSetAppContainerConfig);
// tests replace it.
var setLoopbackList = func(sids []*windows.SID) error {
	list := make([]windows.SIDAndAttributes, len(sids))
	for i, s := range sids {
		list[i].Sid = s
	}
	var p *windows.SIDAndAttributes
	if len(list) > 0 {
		p = &list[0]
	}
	err := winapi.NetworkIsolationSetAppContainerConfig(uint32(len(list)), p)
	runtime.KeepAlive(sids)
	return err
}

// leftovers opens a fresh session and lists any object of the selftest's provider: after
// the dynamic session closed there must be none.
func leftovers() (string, error) {
	e, err := winengine.Open(winengine.Options{Name: "wfpsandbox selftest check"})
	if err != nil {
		return "", err
	}
	defer e.Close()
	fs, err := e.Filters(nil)
	if err != nil {
		return "", err
	}
	n := 0
	for _, f := range fs {
		if f.ProviderKey != nil && *f.ProviderKey == ProviderKey {
			n++
		}
	}
	_, perr := e.Provider(ProviderKey)
	switch {
	case n > 0:
		return fmt.Sprintf("%d filters of the selftest provider are left", n), nil
	case perr == nil:
		return "the selftest provider is left", nil
	case !errors.Is(perr, wfp.ErrProviderNotFound):
		return "", perr
	}
	return "", nil
}
