package adapters_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/scanledger/scanledger/"

// thirdParty names, per adapter, the modules it may import besides the standard
// library: the one driver, protocol or library it adapts, nothing more. A new
// dependency is a line here, with its adapter.
var thirdParty = map[string][]string{
	"accounts":                {"golang.org/x/crypto"}, // argon2id and legacy bcrypt password hashes
	"builtin":                 {"golang.org/x/image"},  // decoders for the photo formats the PWA uploads
	"httpapi":                 {"github.com/gin-gonic/gin"},
	"metrics":                 {"github.com/prometheus/client_golang"}, // the /metrics exposition
	"kurrentdb":               {"github.com/EventStore/EventStore-Client-Go/v4", "github.com/google/uuid", "google.golang.org/grpc"},
	"kurrentdb/kurrentdbtest": {"github.com/EventStore/EventStore-Client-Go/v4", "github.com/google/uuid", "google.golang.org/grpc"},
	"postgres":                {"github.com/jackc/pgx/v5"},
	"postgres/pgtest":         {"github.com/jackc/pgx/v5"},
	"relay":                   {"github.com/coder/websocket", "github.com/r3labs/sse/v2"},
	"s3":                      {"github.com/minio/minio-go/v7"},
	"socketio":                {"github.com/coder/websocket"},
	"sqlite":                  {"modernc.org/sqlite"},
	"token":                   {"github.com/golang-jwt/jwt/v5"},
}

// otherAdapters are the only imports of one adapter by another, each with its reason.
var otherAdapters = map[string][]string{
	// socketio is the Engine.IO/Socket.IO wire protocol with no port of its own; relay
	// is the adapter that speaks it for live updates, as it speaks SSE through r3labs.
	"relay": {"adapters/socketio"},
}

// Adapters talk to each other only through domain, and cmd composes them: an adapter
// imports the standard library, domain, projections and migrations, its own named
// third-party modules, and no other adapter. Tests may import more (they compose real
// parts, as cmd does); this rule is about the code that ships.
func TestAdaptersImportOnlyDomainAndTheirOwnLibraries(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		adapter := strings.TrimPrefix(f[0], module+"adapters/")
		seen++
		for _, imp := range f[1:] {
			if !allowed(adapter, imp) {
				t.Errorf("adapters/%s imports %s", adapter, imp)
			}
		}
	}
	if seen < 10 {
		t.Fatalf("go list saw %d adapter packages; the rule checked nothing", seen)
	}
}

func allowed(adapter, imp string) bool {
	if !strings.Contains(strings.Split(imp, "/")[0], ".") {
		return true // standard library
	}
	if own, ok := strings.CutPrefix(imp, module); ok {
		for _, p := range []string{"domain", "projections", "migrations"} {
			if own == p || strings.HasPrefix(own, p+"/") {
				return true
			}
		}
		if own == "adapters/"+adapter || strings.HasPrefix(own, "adapters/"+adapter+"/") {
			return true // its own subpackages
		}
		for _, o := range otherAdapters[adapter] {
			if own == o {
				return true
			}
		}
		return false
	}
	for _, m := range thirdParty[adapter] {
		if imp == m || strings.HasPrefix(imp, m+"/") {
			return true
		}
	}
	return false
}
