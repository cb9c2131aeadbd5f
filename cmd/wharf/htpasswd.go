package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"
)

// htpasswdCmd is `wharf htpasswd [-f FILE] USER`: it writes a bcrypt entry
// for USER, to FILE (replacing the user's old entry) or to stdout. The
// password comes from a prompt on a terminal, else from stdin's first line.
func htpasswdCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("htpasswd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "htpasswd file to create or update (default: print the entry)")
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt cost")
	if err := fs.Parse(flagsFirst(args)); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: wharf htpasswd [-f FILE] USER   (password from a prompt or stdin)")
		return errUsage
	}
	user := fs.Arg(0)
	if user == "" || strings.ContainsAny(user, ":\n\r") {
		return errors.New("htpasswd: the user name must not be empty or contain ':' or a newline")
	}
	pass, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), *cost)
	if err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	entry := user + ":" + string(hash)
	if *file == "" {
		fmt.Fprintln(stdout, entry)
		return nil
	}
	return writeEntry(*file, user, entry)
}

// readPassword prompts twice on a terminal, or reads one line of stdin.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("htpasswd: %w", err)
		}
		fmt.Fprint(stderr, "Again: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("htpasswd: %w", err)
		}
		if !bytes.Equal(p1, p2) {
			return "", errors.New("htpasswd: the passwords differ")
		}
		return checkPassword(string(p1))
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("htpasswd: reading the password: %w", err)
	}
	return checkPassword(strings.TrimRight(line, "\r\n"))
}

func checkPassword(p string) (string, error) {
	if p == "" {
		return "", errors.New("htpasswd: empty password")
	}
	if len(p) > 72 {
		return "", errors.New("htpasswd: bcrypt uses at most 72 bytes of a password")
	}
	return p, nil
}

// writeEntry replaces user's line in file (or appends it), writing a new
// file and renaming it over the old so a running wharf never reads half.
func writeEntry(path, user, entry string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("htpasswd: %w", err)
	}
	var lines []string
	replaced := false
	for _, l := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		if l == "" {
			continue
		}
		if name, _, _ := strings.Cut(l, ":"); name == user {
			l, replaced = entry, true
		}
		lines = append(lines, l)
	}
	if !replaced {
		lines = append(lines, entry)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".htpasswd-*")
	if err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("htpasswd: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("htpasswd: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	return nil
}
