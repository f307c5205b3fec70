// Package testnet provides loopback addresses for network failure tests.
package testnet

import (
	"fmt"
	"syscall"
	"testing"
)

// RefusingAddress returns a 127.0.0.1 address on which connections are
// refused, for as long as the test runs. It holds a bound socket that never
// listens, so no other server can take the port in the meantime, as one
// could with a port that was merely closed.
func RefusingAddress(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("creating a socket: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("binding a socket: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("reading the socket's address: %v", err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}
