package benchproc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Build returns bin when it is set, else builds the bulwark binary into
// dir and returns its path.
func Build(ctx context.Context, bin, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	bin = filepath.Join(dir, "bulwark")
	fmt.Fprintln(os.Stderr, "building bulwark…")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/bulwark-ai/bulwark/cmd/bulwark")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	return bin, nil
}
