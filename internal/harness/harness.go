// Package harness holds what the commands that run salesflow's binaries
// (bench, examples/chaos, examples/loadgen) need alike: a free port, a
// child process in its own process group and a way to stop it, a wait
// for /readyz, a token from the server's token command, a database made
// and dropped, a process's CPU and memory from /proc, and a /metrics page
// read into numbers.
package harness

import (
	"crypto/rand"
	"encoding/hex"
	"net"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// RandomSecret returns a JWT secret for one run: 32 random bytes in hex.
func RandomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
