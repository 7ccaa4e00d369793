// Package selftest is the platform-independent core of `wfpsandbox selftest`: the probe
// matrix (which attempts, made by which identity in which token, and what the policy
// should do to each), the judgement of recorded outcomes against their controls, the
// hypotheses a run settles, and the JSON report with its text rendering and exit code.
//
// The Windows orchestration (a dynamic WFP session, a temporary account, the probe
// helper run as each identity) lives beside it behind the windows build tag; this part
// builds and is tested everywhere, on recorded outcomes. Its probing half, the Prober
// (account, work directory, probe helper, AppContainer exemption, listeners, phases), is
// exported: Run uses it, and the integration suite uses it against the persistent
// install (PolicyPhase with Installed, each phase a Report of its own).
//
// How a run is judged:
//
//   - every attempt first runs with nothing of wfpsandbox's installed (the control); an
//     attempt whose control did not succeed is not-observable, never a confirmation —
//     Windows' own blocks (AppContainer loopback isolation, raw sockets for
//     non-administrators, Windows Firewall, another vendor) are not ours;
//   - with the policy installed, WSAEACCES (10013) is "blocked", success "allowed",
//     anything else "other"; where a net event names the dropping filter, a block counts
//     as the policy's only if the filter is ours;
//   - each cell is compared with its Expectation (Expect); each hypothesis is settled from
//     its cells (or from a recorded Check): refuted if any cell contradicts it,
//     confirmed if at least one held and none contradicted, else not-observable;
//   - the run passes (ExitHeld) only when every safety hypothesis is confirmed.
package selftest
