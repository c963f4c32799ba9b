package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// BuildVersion is what `bulwark version` reports: where the running binary
// came from, read from the build information the Go toolchain embeds, so a
// binary found on a host can be traced to a commit without trusting its
// file name.
type BuildVersion struct {
	// Version is the release (set with -ldflags -X …cli.Version=), else the
	// module version Go stamped (a tag, a pseudo-version, or "(devel)").
	Version string `json:"version"`
	// Revision is the VCS commit the binary was built from; empty when
	// the build had no VCS information (go install …@version, -buildvcs=false).
	Revision string `json:"revision,omitempty"`
	// Time is the commit time (RFC 3339), empty without VCS information.
	Time string `json:"time,omitempty"`
	// Modified is true when the work tree had uncommitted changes: such a
	// binary is not reproducible from Revision alone.
	Modified bool `json:"modified"`
	// GoVersion is the toolchain that compiled the binary.
	GoVersion string `json:"goVersion"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
	// Module is the main module's path.
	Module string `json:"module,omitempty"`
}

// readBuildVersion combines the link-time version with the embedded build
// information (nil when the binary has none, e.g. built without modules).
func readBuildVersion(ldVersion string, info *debug.BuildInfo) BuildVersion {
	v := BuildVersion{Version: ldVersion, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info == nil {
		return v
	}
	if info.GoVersion != "" {
		v.GoVersion = info.GoVersion
	}
	v.Module = info.Main.Path
	if (v.Version == "" || v.Version == "dev") && info.Main.Version != "" {
		v.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// writeText prints the report for people: the first line stays
// "bulwark <version>" for scripts written against the old output.
func (v BuildVersion) writeText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "bulwark %s\n", v.Version)
	if err != nil {
		return err
	}
	rev := v.Revision
	if rev == "" {
		rev = "unknown (built without VCS information)"
	}
	if v.Modified {
		rev += " (modified: uncommitted changes)"
	}
	t := v.Time
	if t == "" {
		t = "unknown"
	}
	_, err = fmt.Fprintf(w, "  revision: %s\n  time:     %s\n  go:       %s\n  platform: %s\n", rev, t, v.GoVersion, v.Platform)
	return err
}

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision and time, Go version, and whether the tree was modified",
		Long: `Print where this binary came from, read from the build information Go embeds:
the module version, the VCS revision and commit time, whether the work tree had
uncommitted changes, the Go version and the platform. -o json prints the same
as one JSON object.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, _ := debug.ReadBuildInfo()
			v := readBuildVersion(Version, info)
			switch output {
			case "text", "":
				return v.writeText(cmd.OutOrStdout())
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			return fmt.Errorf("unknown output format %q: use -o text or -o json", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
