package main

// --env-from DIR -- command [args...]: mcp-host's delivery of secrets "as env" without putting them in
// the container's configuration (where `docker inspect` shows every variable). The platform writes
// each such secret as a file DIR/<VARIABLE> on the server's secrets tmpfs; this mode sets each as an
// environment variable and replaces itself with the command (execve: no process stays behind), so
// the server sees ordinary variables and nothing but its own process holds them.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// envFromDir is the environment with one variable per regular file of dir (name = file name,
// value = content); a missing dir is an error: the server would start without its secrets.
func envFromDir(dir string, environ []string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading secrets: %w", err)
	}
	set := map[string]string{}
	for _, entry := range entries {
		if !entry.Type().IsRegular() || !envName.MatchString(entry.Name()) {
			continue
		}
		value, err := os.ReadFile(filepath.Join(dir, entry.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading secret %s: %w", entry.Name(), err)
		}
		set[entry.Name()] = string(value)
	}
	out := make([]string, 0, len(environ)+len(set))
	for _, kv := range environ {
		name := kv
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				name = kv[:i]
				break
			}
		}
		if _, replaced := set[name]; !replaced {
			out = append(out, kv)
		}
	}
	for name, value := range set {
		out = append(out, name+"="+value)
	}
	return out, nil
}

// execWithEnvFrom never returns on success.
func execWithEnvFrom(args []string) error {
	if len(args) < 1 {
		return errors.New("--env-from needs a directory")
	}
	dir, rest := args[0], args[1:]
	if len(rest) > 0 && rest[0] == "--" {
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return errors.New("no command to run")
	}
	environ, err := envFromDir(dir, os.Environ())
	if err != nil {
		return err
	}
	path := rest[0]
	if filepath.Base(path) == path {
		// Looked up on the PATH the command will get (the image's, or the secrets' own).
		for _, kv := range environ {
			if len(kv) > 5 && kv[:5] == "PATH=" {
				os.Setenv("PATH", kv[5:])
			}
		}
		if path, err = exec.LookPath(rest[0]); err != nil {
			return err
		}
	}
	return syscall.Exec(path, rest, environ)
}
