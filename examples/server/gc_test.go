package main

import (
	"runtime/debug"
	"testing"
)

func TestDefaultGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	// GOGC set: the runtime's reading of it stands.
	if defaultGC(func(string) string { return "50" }) {
		t.Error("defaultGC changed the target with GOGC=50")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set: target %d; want it left at 100", got)
	}
	var asked []string
	if !defaultGC(func(k string) string { asked = append(asked, k); return "" }) {
		t.Error("defaultGC left the target with GOGC unset or empty")
	}
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("with GOGC unset or empty: target %d; want %d", got, gcPercent)
	}
	if len(asked) != 1 || asked[0] != "GOGC" {
		t.Errorf("looked up %q; want GOGC", asked)
	}
}
