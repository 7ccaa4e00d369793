// Command hello is the smallest Go program for windows/amd64: the ProcessPrng shim test
// runs it under Wine with and without bcryptprimitives.dll.
package main

import (
	"crypto/rand"
	"fmt"
)

func main() {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		fmt.Println("crypto/rand:", err)
		return
	}
	fmt.Println("hello from windows/amd64 under wine")
}
