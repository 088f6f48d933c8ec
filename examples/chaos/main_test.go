package main

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// binaries builds the server and the broker once for the package's tests.
var binaries = sync.OnceValues(func() ([2]string, error) {
	dir, err := os.MkdirTemp("", "salesflow-chaos-bin-")
	if err != nil {
		return [2]string{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	server, broker, err := build(ctx, dir, false)
	return [2]string{server, broker}, err
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bins, err := binaries(); err == nil && bins[0] != "" {
		os.RemoveAll(dirOf(bins[0]))
	}
	os.Exit(code)
}

func dirOf(path string) string { return filepath.Dir(path) }

func bins(t *testing.T) (server, broker string) {
	t.Helper()
	b, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	return b[0], b[1]
}

// logWriter sends the run's progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(b[:len(b)-1]))
	return len(b), nil
}
