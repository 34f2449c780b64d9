package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestEnvFromDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "API_KEY"), []byte("v1\nwith newline"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "HOME"), []byte("/secret-home"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := envFromDir(dir, []string{"PATH=/bin", "HOME=/root"})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{"API_KEY=v1\nwith newline", "HOME=/secret-home", "PATH=/bin"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := envFromDir(filepath.Join(dir, "missing"), nil); err == nil {
		t.Fatal("a missing directory must fail: the server would start without its secrets")
	}
}
