package winapi

// Status-returning functions (NET_API_STATUS, HRESULT) are declared with a return
// named ret, so the generated code turns the returned value itself into the error;
// BOOL functions use err, which reads GetLastError (mkwinsyscall's convention).

// https://learn.microsoft.com/windows/win32/api/lmaccess/nf-lmaccess-netuseradd
//sys	NetUserAdd(serverName *uint16, level uint32, buf *byte, parmErr *uint32) (ret error) [failretval!=0] = netapi32.NetUserAdd

// https://learn.microsoft.com/windows/win32/api/lmaccess/nf-lmaccess-netuserdel
//sys	NetUserDel(serverName *uint16, userName *uint16) (ret error) [failretval!=0] = netapi32.NetUserDel

// https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-createprocesswithlogonw
//sys	CreateProcessWithLogon(userName *uint16, domain *uint16, password *uint16, logonFlags uint32, appName *uint16, commandLine *uint16, creationFlags uint32, env *uint16, currentDir *uint16, startupInfo *windows.StartupInfo, outProcInfo *windows.ProcessInformation) (err error) = advapi32.CreateProcessWithLogonW

// https://learn.microsoft.com/windows/win32/api/securitybaseapi/nf-securitybaseapi-createrestrictedtoken
//sys	CreateRestrictedToken(existing windows.Token, flags uint32, disableSidCount uint32, sidsToDisable *windows.SIDAndAttributes, deletePrivilegeCount uint32, privilegesToDelete *windows.LUIDAndAttributes, restrictedSidCount uint32, sidsToRestrict *windows.SIDAndAttributes, newToken *windows.Token) (err error) = advapi32.CreateRestrictedToken

// https://learn.microsoft.com/windows/win32/api/userenv/nf-userenv-createappcontainerprofile
//sys	CreateAppContainerProfile(name *uint16, displayName *uint16, description *uint16, capabilities *windows.SIDAndAttributes, capabilityCount uint32, sid **windows.SID) (ret error) [failretval!=0] = userenv.CreateAppContainerProfile

// https://learn.microsoft.com/windows/win32/api/userenv/nf-userenv-deleteappcontainerprofile
//sys	DeleteAppContainerProfile(name *uint16) (ret error) [failretval!=0] = userenv.DeleteAppContainerProfile

// https://learn.microsoft.com/windows/win32/api/userenv/nf-userenv-deriveappcontainersidfromappcontainername
//sys	DeriveAppContainerSidFromAppContainerName(name *uint16, sid **windows.SID) (ret error) [failretval!=0] = userenv.DeriveAppContainerSidFromAppContainerName

// https://learn.microsoft.com/windows/win32/api/userenv/nf-userenv-deleteprofilew
//sys	DeleteProfile(sid *uint16, profilePath *uint16, computerName *uint16) (err error) = userenv.DeleteProfileW

// https://learn.microsoft.com/windows/win32/api/icmpapi/nf-icmpapi-icmpcreatefile
//sys	IcmpCreateFile() (handle windows.Handle, err error) [failretval==windows.InvalidHandle] = iphlpapi.IcmpCreateFile

// https://learn.microsoft.com/windows/win32/api/icmpapi/nf-icmpapi-icmpsendecho
//sys	IcmpSendEcho(handle windows.Handle, dest uint32, data *byte, dataSize uint16, options *byte, reply *byte, replySize uint32, timeoutMillis uint32) (replies uint32, err error) [failretval==0] = iphlpapi.IcmpSendEcho

// https://learn.microsoft.com/windows/win32/api/icmpapi/nf-icmpapi-icmpclosehandle
//sys	IcmpCloseHandle(handle windows.Handle) (err error) = iphlpapi.IcmpCloseHandle

// https://learn.microsoft.com/windows/win32/api/securitybaseapi/nf-securitybaseapi-impersonateanonymoustoken
//sys	ImpersonateAnonymousToken(thread windows.Handle) (err error) = advapi32.ImpersonateAnonymousToken

// https://learn.microsoft.com/windows/win32/api/networkisolation/nf-networkisolation-networkisolationgetappcontainerconfig
// The array and every SID in it are freed with HeapFree(GetProcessHeap(), 0, p), as the
// page's FreeAppContainerConfig sample does.
//sys	NetworkIsolationGetAppContainerConfig(count *uint32, sids **windows.SIDAndAttributes) (ret error) [failretval!=0] = firewallapi.NetworkIsolationGetAppContainerConfig

// https://learn.microsoft.com/windows/win32/api/networkisolation/nf-networkisolation-networkisolationsetappcontainerconfig
// It replaces the whole list of loopback-exempt AppContainers.
//sys	NetworkIsolationSetAppContainerConfig(count uint32, sids *windows.SIDAndAttributes) (ret error) [failretval!=0] = firewallapi.NetworkIsolationSetAppContainerConfig

// https://learn.microsoft.com/windows/win32/api/heapapi/nf-heapapi-getprocessheap
//sys	GetProcessHeap() (heap windows.Handle, err error) [failretval==0] = kernel32.GetProcessHeap

// https://learn.microsoft.com/windows/win32/api/heapapi/nf-heapapi-heapfree
//sys	HeapFree(heap windows.Handle, flags uint32, mem unsafe.Pointer) (err error) = kernel32.HeapFree
