package main

import (
	"bytes"
	"strings"
	"testing"
)

// --help shows each flag's environment value as its default; a secret must
// never be one of them.
func TestHelpHidesSecrets(t *testing.T) {
	const secret = "s3cret-0123456789abcdef0123456789abcdef"
	t.Setenv("SERVICE_JWT_SECRET", secret)
	t.Setenv("SERVICE_DATABASE_URL", "postgres://u:"+secret+"@localhost/db")
	for _, args := range [][]string{{"--help"}, {"token", "--help"}} {
		var out bytes.Buffer
		root := (&Main{Stdout: &out, Stderr: &out}).CLI().Root()
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if strings.Contains(out.String(), secret) {
			t.Errorf("%v prints the secret:\n%s", args, out.String())
		}
	}
}

// A mistyped flag or command is an error, so that main exits non-zero.
func TestBadArgumentsFail(t *testing.T) {
	for _, args := range [][]string{{"--bogus"}, {"bogus"}, {"token", "--role", "user"}} {
		var out bytes.Buffer
		root := (&Main{Stdout: &out, Stderr: &out}).CLI().Root()
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		if err := root.Execute(); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// main exits non-zero when cobra reports an error, which it does in one
// "Error: ..." write to the command's error writer.
func TestErrorWatch(t *testing.T) {
	var out bytes.Buffer
	ew := &errorWatch{w: &out}
	root := (&Main{Stdout: &out, Stderr: &out}).CLI().Root()
	root.SetOut(&out)
	root.SetErr(ew)
	root.SetArgs([]string{"--help"})
	_ = root.Execute()
	if ew.failed {
		t.Fatalf("--help counted as an error:\n%s", out.String())
	}
	root.SetArgs([]string{"--bogus"})
	_ = root.Execute()
	if !ew.failed {
		t.Fatalf("an unknown flag was not noticed:\n%s", out.String())
	}
}
