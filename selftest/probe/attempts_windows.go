//go:build windows

package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/winengine"

	"github.com/wfpsandbox/wfpsandbox/internal/winapi"
	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
)

// attempt makes one network attempt and describes its outcome.
func attempt(plan *probeproto.Plan, a probeproto.Attempt) probeproto.Record {
	rec := probeproto.Record{Type: probeproto.RecordAttempt, Attempt: a.Name, Kind: a.Kind, Target: a.Target}
	timeout := time.Duration(plan.TimeoutMillis) * time.Millisecond
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	var err error
	switch a.Kind {
	case probeproto.KindUDPSend:
		err = udpSend(a, probeproto.UDPPayload(plan.RunID, a.Name))
	case probeproto.KindTCPConnect:
		err = tcpConnect(a, timeout)
	case probeproto.KindRawICMP:
		err = rawICMP(a)
	case probeproto.KindICMPEchoAPI:
		rec.Detail, err = icmpEchoAPI(a, timeout)
	case probeproto.KindTCPAccept:
		rec.Detail, err = tcpAccept(a, timeout)
	case probeproto.KindSMBKernel:
		rec.Detail, err = smbKernel(a)
	case probeproto.KindWFPRead:
		rec.Detail, err = wfpRead(a)
	case probeproto.KindWFPReadByKey:
		rec.Detail, err = wfpReadByKey(a)
	default:
		err = fmt.Errorf("unknown attempt kind %q", a.Kind)
	}
	if err == nil {
		rec.OK = true
		return rec
	}
	describeError(&rec, err)
	return rec
}

// describeError fills in the errno, the failing operation and system call, and
// whether the error was a timeout.
func describeError(rec *probeproto.Record, err error) {
	rec.Error = err.Error()
	if c, ok := wfp.CodeOf(err); ok {
		rec.Errno = uint32(c)
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		rec.Errno = uint32(errno)
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		rec.Syscall = se.Syscall
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		rec.Op = oe.Op
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		rec.Timeout = true
	}
}

// udpSend sends one datagram from an unconnected socket bound to the wildcard
// address: sendto is where ALE_AUTH_CONNECT classifies an unconnected UDP flow.
func udpSend(a probeproto.Attempt, payload []byte) error {
	raddr, err := net.ResolveUDPAddr(a.Network, a.Target) // an IP literal: no name lookup
	if err != nil {
		return err
	}
	c, err := net.ListenUDP(a.Network, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.WriteToUDP(payload, raddr)
	return err
}

// tcpConnect connects and closes at once.
func tcpConnect(a probeproto.Attempt, timeout time.Duration) error {
	c, err := (&net.Dialer{Timeout: timeout}).Dial(a.Network, a.Target)
	if err != nil {
		return err
	}
	return c.Close()
}

// rawICMP opens a raw ICMP/ICMPv6 socket and sends one echo request. Windows refuses
// raw sockets to non-administrators with WSAEACCES before WFP is consulted, so for the
// sandbox account this attempt only shows something when the control run (no policy
// installed) succeeds; the test checks that.
func rawICMP(a probeproto.Attempt) error {
	ip, err := netip.ParseAddr(a.Target)
	if err != nil {
		return err
	}
	c, err := net.ListenPacket(a.Network, "")
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.WriteTo(echoRequest(ip.Is6()), &net.IPAddr{IP: ip.AsSlice()})
	return err
}

// echoRequest returns an ICMP echo request (type 8) or ICMPv6 echo request (type 128;
// the stack fills in the ICMPv6 checksum, which covers a pseudo-header).
func echoRequest(v6 bool) []byte {
	m := []byte{8, 0, 0, 0, 0x77, 0x66, 0, 1, 'w', 'f', 'p', 's'}
	if v6 {
		m[0] = 128
		return m
	}
	var sum uint32
	for i := 0; i < len(m); i += 2 {
		sum += uint32(m[i])<<8 | uint32(m[i+1])
	}
	sum = sum>>16 + sum&0xffff
	sum += sum >> 16
	binary.BigEndian.PutUint16(m[2:], ^uint16(sum))
	return m
}

// icmpEchoAPI pings through IcmpSendEcho, which ping.exe uses and which does not need
// a raw socket. Whether WFP attributes its traffic to the caller's token is what
// wfp-facts §10.2 asks; the test only records the outcome.
func icmpEchoAPI(a probeproto.Attempt, timeout time.Duration) (string, error) {
	ip, err := netip.ParseAddr(a.Target)
	if err != nil || !ip.Is4() {
		return "", fmt.Errorf("IcmpSendEcho needs an IPv4 target, not %q", a.Target)
	}
	h, err := winapi.IcmpCreateFile()
	if err != nil {
		return "", os.NewSyscallError("IcmpCreateFile", err)
	}
	defer winapi.IcmpCloseHandle(h)
	data := []byte("wfpsandbox")
	reply := make([]byte, 256)
	b := ip.As4()
	dest := binary.LittleEndian.Uint32(b[:]) // IPAddr is the address bytes in memory order
	n, err := winapi.IcmpSendEcho(h, dest, &data[0], uint16(len(data)), nil, &reply[0], uint32(len(reply)), uint32(timeout.Milliseconds()))
	if n == 0 {
		if err == nil {
			err = windows.ERROR_GEN_FAILURE
		}
		return "", os.NewSyscallError("IcmpSendEcho", err)
	}
	status := binary.LittleEndian.Uint32(reply[winapi.ICMPStatusOffset:])
	if status != 0 {
		return "", os.NewSyscallError("IcmpSendEcho reply status", windows.Errno(status))
	}
	return "echo reply", nil
}

// smbKernel lists \\Target\C$ so that the kernel SMB redirector (not a socket of
// this process) connects to Target:445. Access denied and a logon failure are answers
// from the SMB server, so the connection was made: they count as success, with the
// answer in the detail.
func smbKernel(a probeproto.Attempt) (string, error) {
	path := `\\` + a.Target + `\C$`
	_, err := os.ReadDir(path)
	switch {
	case err == nil:
		return "listed " + path, nil
	case errors.Is(err, windows.ERROR_ACCESS_DENIED), errors.Is(err, windows.ERROR_LOGON_FAILURE):
		return "the SMB server answered: " + err.Error(), nil
	}
	return "", err
}

// wfpRead opens a WFP session as this process and reads filter a.Key
// (FwpmFilterGetByKey0): can a non-administrator read the policy's objects?
func wfpRead(a probeproto.Attempt) (string, error) {
	key, err := wfp.ParseGUID(a.Key)
	if err != nil {
		return "", fmt.Errorf("filter key %q: %w", a.Key, err)
	}
	e, err := winengine.Open(winengine.Options{Name: "wfpsandbox selftest probe", Description: "reads one filter by key"})
	if err != nil {
		return "", err
	}
	defer e.Close()
	f, err := e.Filter(key)
	if err != nil {
		return "", err
	}
	return "read " + f.Name, nil
}

// tcpAccept listens on a.Target and waits up to twice timeout for one connection (the
// selftest connects to every accept target while a probe runs). An inbound connection
// that WFP drops at ALE_AUTH_RECV_ACCEPT never reaches accept, so a block shows here
// as a timeout.
func tcpAccept(a probeproto.Attempt, timeout time.Duration) (string, error) {
	ln, err := net.Listen(a.Network, a.Target)
	if err != nil {
		return "", err
	}
	defer ln.Close()
	if err := ln.(*net.TCPListener).SetDeadline(time.Now().Add(2 * timeout)); err != nil {
		return "", err
	}
	c, err := ln.Accept()
	if err != nil {
		return "", err
	}
	defer c.Close()
	return "accepted from " + c.RemoteAddr().String(), nil
}

// attemptImpersonated makes attempt a with the thread impersonating (impersonate) for
// its connect or send, and reverts to the process token afterwards. The error is only
// for a failed RevertToSelf, after which the caller must stop.
func attemptImpersonated(plan *probeproto.Plan, a probeproto.Attempt, impersonate func() error) (probeproto.Record, error) {
	rec := probeproto.Record{Type: probeproto.RecordAttempt, Attempt: a.Name, Kind: a.Kind, Target: a.Target}
	var err error
	switch a.Kind {
	case probeproto.KindTCPConnect, probeproto.KindUDPSend:
		err = socketThenImpersonate(plan, a, impersonate)
	default:
		if err = impersonate(); err == nil {
			rec = attempt(plan, a)
		}
	}
	if rerr := windows.RevertToSelf(); rerr != nil {
		return rec, fmt.Errorf("RevertToSelf: %w", rerr)
	}
	if a.Kind == probeproto.KindTCPConnect || a.Kind == probeproto.KindUDPSend {
		if err == nil {
			rec.OK = true
		} else {
			describeError(&rec, err)
		}
	} else if err != nil {
		describeError(&rec, err)
	}
	return rec, nil
}

// socketThenImpersonate creates the socket with the process token, then impersonates
// and makes the blocking connect (TCP) or sendto (UDP) — bind is implicit in both, so
// ALE_RESOURCE_ASSIGNMENT and ALE_AUTH_CONNECT are both classified while impersonating.
// The caller reverts.
func socketThenImpersonate(plan *probeproto.Plan, a probeproto.Attempt, impersonate func() error) error {
	ap, err := netip.ParseAddrPort(a.Target)
	if err != nil {
		return err
	}
	var sa windows.Sockaddr
	family := windows.AF_INET
	if ap.Addr().Is4() {
		sa = &windows.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		family = windows.AF_INET6
		sa = &windows.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	typ, proto := windows.SOCK_STREAM, windows.IPPROTO_TCP
	if a.Kind == probeproto.KindUDPSend {
		typ, proto = windows.SOCK_DGRAM, windows.IPPROTO_UDP
	}
	s, err := windows.Socket(family, typ, proto)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer windows.Closesocket(s)
	if err := impersonate(); err != nil {
		return err
	}
	if a.Kind == probeproto.KindUDPSend {
		return os.NewSyscallError("sendto", windows.Sendto(s, probeproto.UDPPayload(plan.RunID, a.Name), 0, sa))
	}
	return os.NewSyscallError("connect", windows.Connect(s, sa))
}
