package certsync

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
)

// AWSCredentialVars are the environment variables that carry AWS
// credentials; ChildEnv drops them when asked.
var AWSCredentialVars = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"}

// EnvOptions say what ChildEnv removes.
type EnvOptions struct {
	// DropAWSCredentials removes AWSCredentialVars. Off by default: a
	// proxy with an sds certificate source reads the secrets itself and
	// needs them; a proxy that only reads files does not.
	DropAWSCredentials bool
	// Sensitive values: any variable whose value contains one is removed.
	// The passphrase and the key never enter this process's environment;
	// this guards against a wrapper that put them there.
	Sensitive [][]byte
}

// ChildEnv returns environ (KEY=VALUE entries) filtered by opts.
func ChildEnv(environ []string, opts EnvOptions) []string {
	out := make([]string, 0, len(environ))
next:
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if opts.DropAWSCredentials {
			for _, v := range AWSCredentialVars {
				if name == v {
					continue next
				}
			}
		}
		for _, s := range opts.Sensitive {
			if len(s) > 0 && bytes.Contains([]byte(value), s) {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// Child is the process fetch starts after writing the files. It is a
// child, not an exec(2) replacement, so that --watch keeps running beside
// it and can signal it after a rewrite.
type Child struct {
	cmd *exec.Cmd
}

// StartChild starts argv with env, stdin/stdout/stderr as given.
func StartChild(argv, env []string, stdin io.Reader, stdout, stderr io.Writer) (*Child, error) {
	if len(argv) == 0 {
		return nil, errors.New("certsync: no command to run")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &Child{cmd: cmd}, nil
}

// Signal sends sig to the child.
func (c *Child) Signal(sig os.Signal) error { return c.cmd.Process.Signal(sig) }

// Wait waits for the child and returns its exit code (128+signal when it
// was killed by a signal, as shells report it).
func (c *Child) Wait() (int, error) {
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if code < 0 {
			code = 128 + signalNumber(ee)
		}
		return code, nil
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}
