// Package arbiter evaluates a flow against a set of WFP filters the way the filter
// engine arbitrates them, and explains the result: which layers were evaluated, which
// sublayers and filters were considered in which order, why each filter matched or
// not, and which filter decided.
//
// What it models (wfp-facts §1–§2; DOC:fwp/filter-arbitration):
//
//   - layers: ALE_RESOURCE_ASSIGNMENT then ALE_AUTH_CONNECT for an outbound flow,
//     ALE_AUTH_RECV_ACCEPT for an inbound one, V4 or V6 by the remote address (an
//     IPv4-mapped ::ffff:a.b.c.d stays a V6 address; see Flow);
//   - sublayer and filter weights, including the FWP_UINT8 and FWP_EMPTY weight ranges
//     BFE fills in, and EffectiveWeight when the filters come from an engine;
//   - terminating actions and the arbitration across sublayers: the engine keeps the
//     current action with its FWPS_RIGHT_ACTION_WRITE right, so a later soft decision
//     replaces a soft one (a soft permit overrides a soft block), a filter block is hard
//     and final, a hard permit (FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT) yields only to a
//     callout veto; every order of equal-weight sublayers is considered;
//   - conditions ANDed across fields and ORed within a field; FWP_MATCH_EQUAL,
//     NOT_EQUAL, GREATER/LESS(_OR_EQUAL), RANGE, PREFIX/NOT_PREFIX on numbers, address
//     masks, FWP_UINT32 IPv4 and 16-byte IPv6 addresses; the fields IP_PROTOCOL,
//     IP_REMOTE_ADDRESS, IP_REMOTE_PORT, IP_LOCAL_ADDRESS, IP_LOCAL_PORT (when the flow
//     knows them; ICMP type/code for ICMP), ALE_USER_ID and ALE_PACKAGE_ID;
//   - ALE_USER_ID as an access check of a Token for FWP_ACTRL_MATCH_FILTER: enabled and
//     deny-only SIDs, restricting SIDs, AppContainer package and capability SIDs, ACEs
//     in DACL order (Token.MatchFilterGranted); token kinds for the account (normal,
//     deny-only, restricted, AppContainer, low integrity), the anonymous token and a
//     classify without a token (TokenKind), each with the cautions of what is not
//     documented about it;
//   - callouts only when told their result (Options.Callouts).
//
// What it does not model: callout filters without an assumed result (not evaluated,
// reported in Decision.NotEvaluated, and so neither their permits nor their vetoes), non-terminating
// actions, conditions on any other field (application ID, interfaces, flags, …; such
// filters are reported and treated as not matching), other layers (listen, redirect,
// flow established, transport, IPsec), the DNS client service, the SMB redirector and
// IcmpSendEcho sending on the account's behalf (design §4), and anything the host does
// outside WFP filters. Nothing here has been compared with a real BFE.
package arbiter
