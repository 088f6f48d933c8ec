package main

import (
	"runtime/debug"
	"testing"
)

func TestDefaultGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	// GOGC set: the runtime's reading of it stands.
	if defaultGC(func(string) (string, bool) { return "50", true }) {
		t.Error("defaultGC changed the target with GOGC=50")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set: target %d; want it left at 100", got)
	}
	// Empty, as for the runtime, is unset.
	if !defaultGC(func(string) (string, bool) { return "", true }) {
		t.Error("defaultGC left the target with GOGC empty")
	}
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("with GOGC empty: target %d; want %d", got, gcPercent)
	}

	var asked []string
	if !defaultGC(func(k string) (string, bool) { asked = append(asked, k); return "", false }) {
		t.Error("defaultGC left the target with GOGC unset")
	}
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("with GOGC unset: target %d; want %d", got, gcPercent)
	}
	if len(asked) != 1 || asked[0] != "GOGC" {
		t.Errorf("looked up %q; want GOGC", asked)
	}
}
