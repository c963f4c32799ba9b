package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// walk calls fn for every command under root, root included.
func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// TestFlagUsageHasNoBackquotes: pflag takes a back-quoted word in a
// usage string as the flag's value name, which garbled
// "bulwark admin reseal --help" (--storage). Checked for every flag.
func TestFlagUsageHasNoBackquotes(t *testing.T) {
	walk(NewRoot(), func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if strings.Contains(f.Usage, "`") {
				t.Errorf("%s --%s: usage %q contains a backquote (pflag renders it as the value name)", c.CommandPath(), f.Name, f.Usage)
			}
		})
	})
}

// TestEndpointFlagsComeWithAWSOptIn: a command that can talk to a server
// takes --endpoint, and then must also take --aws, the explicit opt-in
// to AWS's own endpoints: without it such a command refuses to run with
// no endpoint configured rather than fall back to AWS silently.
func TestEndpointFlagsComeWithAWSOptIn(t *testing.T) {
	n := 0
	walk(NewRoot(), func(c *cobra.Command) {
		if c.LocalFlags().Lookup("endpoint") == nil {
			return
		}
		n++
		if c.LocalFlags().Lookup("aws") == nil {
			t.Errorf("%s has --endpoint but no --aws: it would fall back to AWS without being asked", c.CommandPath())
		}
	})
	if n < 7 {
		t.Errorf("only %d commands with --endpoint: the walk missed some", n)
	}
}
