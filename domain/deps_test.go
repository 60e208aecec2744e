package domain_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The domain speaks only the standard library: no database, HTTP framework or client
// library type can leak into its signatures if none can be imported.
func TestDomainImportsOnlyTheStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if !strings.HasPrefix(p, "github.com/scanledger/scanledger/domain") {
			t.Errorf("domain depends on %s", p)
		}
	}
}
