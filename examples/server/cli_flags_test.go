package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
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

// The token command's flags can come from the environment, as the
// server's do; a flag given wins over its variable.
func TestTokenFlagsFromEnv(t *testing.T) {
	t.Setenv("SERVICE_JWT_SECRET", "0123456789abcdef0123456789abcdef") // JWT_SECRET, as main hands it on
	t.Setenv("ROLE", "user")
	t.Setenv("SUB", "bob")
	t.Setenv("TTL", "1h")
	// token runs the command as main does, and returns what it printed.
	token := func(args ...string) (out, errs string) {
		var o, e bytes.Buffer
		cli := (&Main{Stdout: &o, Stderr: &e}).CLI()
		cli.Root().SetOut(&e)
		cli.Root().SetErr(&e)
		cli.Root().SetArgs(append([]string{"token"}, args...))
		cli.Run()
		return o.String(), e.String()
	}
	claims := func(args ...string) map[string]any {
		t.Helper()
		out, errs := token(args...)
		parts := strings.Split(strings.TrimSpace(out), ".")
		if len(parts) != 3 {
			t.Fatalf("token %v printed %q, %q", args, out, errs)
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := claims()
	if c["role"] != "user" || c["sub"] != "bob" || c["exp"].(float64)-c["iat"].(float64) != 3600 {
		t.Errorf("claims from ROLE, SUB and TTL: %v", c)
	}
	if c := claims("--sub", "ana"); c["sub"] != "ana" || c["role"] != "user" {
		t.Errorf("claims with --sub ana: %v", c)
	}
	t.Setenv("TTL", "forever")
	if out, errs := token(); out != "" || !strings.Contains(errs, "TTL") {
		t.Errorf("TTL=forever: printed %q, %q; want an error naming TTL", out, errs)
	}
}
