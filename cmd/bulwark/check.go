package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/bulwark-ai/bulwark/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// checkConfig checks a configuration file. A ${VAR} whose variable is not
// set here is a warning, not a problem, unless --strict: a file is often
// checked away from the environment it runs in (in CI, on a laptop), and
// the rest of it is still checked. The file's other problems fail it.
func checkConfig(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("config check", "usage: bulwark config check [--strict] FILE\n", stderr)
	strict := fs.Bool("strict", false, "fail on environment variables that are not set, as bulwark serve would")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	path := fs.Arg(0)
	cfg, err := config.Load(path)
	if err == nil {
		fmt.Fprintf(stdout, "%s: ok (%d providers, %d models)\n", path, len(cfg.Providers), len(cfg.Models))
		return 0
	}
	var problems config.Problems
	if !errors.As(err, &problems) {
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		return 1
	}
	var unset []string
	var rest config.Problems
	for _, p := range problems {
		if p.Unset != "" && !*strict {
			if !slices.Contains(unset, p.Unset) {
				unset = append(unset, p.Unset)
			}
			continue
		}
		rest = append(rest, p)
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "%s: invalid:\n%v\n", path, rest)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok; bulwark serve needs these environment variables, not set here: %s\n", path, strings.Join(unset, ", "))
	return 0
}

func versionString() string {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("bulwark %s%s %s %s/%s", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
