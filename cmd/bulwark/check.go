package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/bulwark-ai/bulwark/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func checkConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, "usage: bulwark config check FILE\n")
		return 2
	}
	cfg, err := config.Load(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "%s: invalid:\n%v\n", args[0], err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok (%d providers, %d models)\n", args[0], len(cfg.Providers), len(cfg.Models))
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
