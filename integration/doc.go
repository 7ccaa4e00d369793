// Package integration holds wfpsandbox's tests against the live Base Filtering Engine
// of a real Windows host. Every test file is behind the build tags
// `windows && wfpintegration`; without them this package is only this comment.
//
// The tests need an elevated process on a disposable Windows machine (they are written
// for GitHub's windows-2022 runner, see .github/workflows/windows.yml):
//
//	go test -count=1 -v -tags wfpintegration -timeout 75m ./integration/...
//
// Not elevated, they skip — unless the environment variable CI is set, then they fail.
// They refuse to run when wfpsandbox objects are already installed, because their
// cleanup removes everything of the wfpsandbox provider.
//
// The suite is a thin wrapper over the product, so the code users run is the code CI
// runs: the probing is `wfpsandbox selftest`'s own (selftest.NewProber makes what
// selftest.Run makes, by the same code, and its probe helper is the built CLI's hidden
// selftest-probe subcommand, package selftest/probe), and the assertions are on the
// hypotheses of the selftest's report (selftest.Report), settled by the same
// evaluation users see. The suite adds what the selftest must not do on a host someone
// cares about: a persistent install through reconcile, a BFE restart, an uninstall and
// the CLI's setup.
//
// TestSelftest runs the built `wfpsandbox selftest` once per user-match shape and
// asserts that every safety hypothesis of its report is confirmed.
//
// TestLiveBFE, in order:
//
//   - build the CLI and make the product's prober with it (selftest.NewProber): a
//     temporary local account (NetUserAdd, random password; deleted with its profile
//     afterwards, also when a test fails), a work directory whose ACL lets the account
//     and its restricted, AppContainer and low-integrity children run the probe helper,
//     the probe's AppContainer in the loopback-exempt list (restored afterwards), and
//     TCP and UDP listeners on this host's own addresses (no attempt targets another
//     host);
//   - control: with nothing installed, every identity of the selftest — the account
//     and the test's own administrator account, each in its normal token and as
//     restricted (user SID deny-only; restricting SIDs without it), AppContainer (with
//     and without capabilities) and low-integrity children, and the account's thread
//     impersonating the anonymous token — makes its attempts: TCP and UDP to 53, 853,
//     445 and 139 on 127.0.0.1, ::1 and a local address, raw ICMP, IcmpSendEcho, the
//     kernel SMB path (the administrator) and a read of a filter by key (the account);
//   - per user-match shape (policy.MatchAllow, then policy.MatchDeny): install the
//     baseline plan for the account with policy.Build + reconcile.Install through
//     winengine (with the read access setup grants), verify it, re-install it (zero
//     writes), read the filters back directly; then a policy phase
//     (Prober.PolicyPhase with selftest.Installed) whose report must confirm every
//     safety hypothesis — account-blocked, loopback-at-connect, children-blocked (deny
//     only), anonymous-impersonation-uses-process-token, other-account-unaffected,
//     other-account-kernel-path-unaffected, filter-add-accepts-user-condition,
//     zero-drift — and the hypotheses below that the suite asserts although the
//     selftest only reports them; then the account reads the provider, sublayer and
//     every filter by key (Prober.Probe, hypothesis 8);
//   - restart BFE (and the services that depend on it) through the service control
//     manager, verify that the deny plan is still there, and run a policy phase that
//     must confirm the same and persistent-filters-survive-bfe-restart;
//   - uninstall, check that nothing of the wfpsandbox provider is left, and run the
//     control again (Prober.ControlPhase): nothing the first control let through may
//     be blocked now (Report.BlockedSince);
//   - run the built CLI once: setup, verify (and verify with the other shape: drift),
//     a policy phase against what setup installed, uninstall.
//
// A phase against the persistent install reads its own checks (selftest.InstalledChecks):
// install and verify are the plan read back by key, the enumeration check is the
// wfpsandbox provider's; not-equal-sd-refused and the selftest's cleanup check are not
// run there (they belong to the selftest's dynamic session), so those stay
// not-observable in these reports.
//
// TestService runs the optional service (package service, `wfpsandbox service`) for
// real: two temporary accounts, the caller (named in config.toml [service] callers,
// and the sandbox account of the policy) and the stranger (not named); the CLI
// `setup --profile strict --proxy-port 3128` for the caller with a state directory
// in the work directory and a 2 s poll; `service install --state-dir` and `service
// start` through the service control manager (as LocalSystem); then
//
//   - status over \\.\pipe\wfpsandbox from other processes: the test's own
//     (elevated) and the caller's (`service status --sid`, run with
//     CreateProcessWithLogonW through cmd.exe for its output), each answered with a
//     live verify finding every planned filter (another owner's overriding filter,
//     the host's doing, is logged, not failed); `ensure --no-elevate` is current as
//     the test's account (live, read itself) and as the caller (whether it read the
//     policy itself or asked the service is logged);
//   - the stranger's `service status --sid` and its set-proxy-ports (the test binary
//     as a pipe client, service.Ask: the CLI sends set-proxy-ports only from ensure,
//     which would fall back to an elevation prompt) are refused at the pipe's DACL
//     (hypothesis 10), and every filter
//     keeps its run-time ID and definition and the record its ports;
//   - one planned block filter deleted by key from the test's own engine session is
//     back, same key and definition, within 30 s; every other filter keeps its ID;
//   - the caller's set-proxy-ports of its recorded port (service.Ask, as above) is
//     accepted with zero writes and changes no filter; then
//     `ensure --proxy-port 8080` as the caller has the service apply it
//     (action service-set-proxy-ports, via service): the filters that change are
//     exactly those whose definition differs between the plans of the two ports
//     (the loopback-connect permits), the service's reported changes touch only
//     them, every other filter — every block — keeps its ID and definition, and
//     Verify finds the new plan;
//   - `service stop` and `service uninstall` leave every filter (same IDs) and the
//     record, and `verify --format json` from the record finds every filter as
//     planned (exit 0; 1 only for another owner's override, logged).
//
// Its cleanup, also on failure, deletes the service (service.Uninstall), terminates
// any process still running the copied executables, removes the work directory
// (state included), deletes both accounts, and removes every object of the
// provider. Like the WFP objects, an installed wfpsandbox service makes it refuse
// to run.
//
// What only Windows can settle is listed in shared/docs/wfp-facts.md §10. Written
// without a Windows machine, the suite itself rests on these hypotheses; each is a
// hypothesis of the selftest's report (its ID in brackets), and a run confirms or
// refutes it with a message naming it:
//
//  1. a UDP datagram blocked at ALE_AUTH_CONNECT fails sendto with WSAEACCES, not
//     silently (the listeners show whether it arrived) [udp-sendto-wsaeacces; asserted];
//  2. loopback connects are classified at ALE_AUTH_CONNECT, so port filters without an
//     address condition block them [loopback-at-connect; safety];
//  3. design §4: under the allow shape restricted-token and AppContainer children of
//     the account escape [allow-shape-children-escape; asserted under allow], under
//     the deny shape they do not, nor do its low-integrity children
//     [children-blocked; safety];
//  4. persistent filters come back when BFE restarts
//     [persistent-filters-survive-bfe-restart; asserted after the restart, which is
//     skipped with the reason where BFE or a dependent such as mpssvc refuses to stop];
//  5. raw ICMP sockets are refused to non-administrators before WFP, so the ICMP
//     filters cannot be observed blocking the account's sockets
//     [raw-icmp-refused-to-non-admin; logged, not asserted]; IcmpSendEcho's attribution
//     (§10.2) is recorded, not asserted;
//  6. a provider-scoped filter enumeration returns what a full one does (§10.5)
//     [provider-scoped-enumeration; asserted];
//  7. CreateProcessWithLogonW works from the runner's session, and a process of a
//     standard account may start restricted, AppContainer and low-integrity copies of
//     its own token without any privilege [logon-and-children; asserted];
//  8. wfp-facts §11: a standard user's process (the account) can FwpmEngineOpen0 and
//     read wfpsandbox's objects by key, because they were added with a security
//     descriptor granting FWPM_ACTRL_READ to BUILTIN\Users (account.ObjectSD) — the
//     ground of ensure's unelevated live check [non-admin-reads-objects, one filter;
//     asserted; the suite's own read of the provider, sublayer and every planned
//     filter (Fwpm*GetByKey0) is asserted too]. Whether that user may also begin a
//     read-only transaction (it should not: the documented engine default grants
//     Everyone only OPEN and CLASSIFY) is logged, not asserted. So is the DACL BFE then
//     holds for the objects (Fwpm*GetSecurityInfoByKey0), which shows whether it merged
//     the container's inheritable ACEs into the sd given to Fwpm*Add0 (DACL for a New
//     Object says the system does; the WFP pages do not say).
//  9. the service as written works under the real service control manager and pipe:
//     started by the SCM as LocalSystem it creates \\.\pipe\wfpsandbox with
//     PipeSDDL's DACL; a standard account named in callers opens it (CreateFileW
//     with exactly callerAccess, SECURITY_IDENTIFICATION), the service identifies it
//     from its token (ImpersonateNamedPipeClient at identification level,
//     OpenThreadToken as self) and answers status; an elevated administrator is
//     answered too. Also assumed: the service object's default DACL lets a standard
//     account's interactive-logon token query its status (SERVICE_QUERY_STATUS, which
//     `service status` needs before it asks the pipe) — a refusal there shows as exit
//     2 naming OpenServiceW;
//  10. a standard account not in callers is refused by the pipe's DACL before the
//     service reads anything: CreateFileW fails with ERROR_ACCESS_DENIED ("refused
//     this account"). Were it admitted and then denied by the service's own check
//     (CodeDenied), the caller would still be refused, but the test fails, because
//     the DACL would not be what PipeSDDL says;
//  11. a filter deleted behind the service's back (another session's
//     FwpmFilterDeleteByKey0) is seen missing by its by-key poll (or a change
//     notification) and added again with the same key within 30 s of a 2 s poll; BFE
//     gives the re-added filter a new run-time ID and the others keep theirs;
//  12. set-proxy-ports (setup.Run inside the service: one reconcile.Install
//     transaction) deletes and re-adds only the filters whose definition the ports
//     change; the others, untouched, keep their run-time IDs. That it is one
//     transaction is not observable here (the Wine test's call log shows it);
//  13. stopping the service (SERVICE_CONTROL_STOP) and deleting it (DeleteService)
//     leave the persistent policy exactly as it was.
package integration
