package main_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// docs/configuration.md holds the table `scanledger config` prints from the code.
func TestConfigDocsAreTheSettingsTable(t *testing.T) {
	table, _, err := cli(t, t.TempDir(), nil, "config")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), table) {
		t.Fatalf("docs/configuration.md does not hold the table `scanledger config` prints; paste it in:\n%s", table)
	}
}

// A value a setting cannot use stops serve at start, with the setting, the value and
// where it came from, before anything is opened: the data dir is not even created.
func TestServeRefusesABadSettingBeforeOpeningAnything(t *testing.T) {
	for _, c := range []struct {
		name, env, flag, value, says string
	}{
		{"s3-use-ssl", "SCANLEDGER_S3_USE_SSL", "", "yes", "neither true nor false"},
		{"heartbeat", "", "--heartbeat", "soon", "not a duration"},
		{"heartbeat", "SCANLEDGER_HEARTBEAT", "", "0s", "above zero"},
		{"analyzer-deadline", "SCANLEDGER_ANALYZER_DEADLINE", "", "5", "not a duration"},
		{"photo-sweep-grace", "SCANLEDGER_PHOTO_SWEEP_GRACE", "", "0", "above zero"},
		{"photo-sweep-interval", "", "--photo-sweep-interval", "-1h", "not a duration"},
		{"seal-interval", "SCANLEDGER_SEAL_INTERVAL", "", "often", "not a duration"},
		{"worker-lease", "", "--worker-lease", "0", "above zero"},
		{"shutdown-drain", "SCANLEDGER_SHUTDOWN_DRAIN", "", "1 minute", "not a duration"},
		{"access-ttl", "", "--access-ttl", "0", "above zero"},
		{"refresh-ttl", "SCANLEDGER_REFRESH_TTL", "", "week", "not a duration"},
		{"body-timeout", "SCANLEDGER_BODY_TIMEOUT", "", "20", "not a duration"},
		{"workers", "SCANLEDGER_WORKERS", "", "two", "not a whole number"},
		{"max-retries", "", "--max-retries", "-1", "not a whole number"},
		{"upload-max-bytes", "", "--upload-max-bytes", "20MB", "not a number of bytes"},
		{"upload-max-files", "SCANLEDGER_UPLOAD_MAX_FILES", "", "many", "not a whole number"},
		{"body-min-rate", "SCANLEDGER_BODY_MIN_RATE", "", "fast", "not a number of bytes"},
		{"signups-per-ip", "SCANLEDGER_SIGNUPS_PER_IP", "", "1.5", "not a whole number"},
		{"live-per-user", "", "--live-per-user", "x", "not a whole number"},
		{"live-per-ip", "SCANLEDGER_LIVE_PER_IP", "", "-3", "not a whole number"},
		{"roles", "SCANLEDGER_ROLES", "", "http,cron", `unknown role "cron"`},
		{"log-level", "", "--log-level", "loud", "not debug, info, warn or error"},
		{"analyzer", "SCANLEDGER_ANALYZER", "", "ftp://agents", "neither builtin nor an http(s) URL"},
		{"public-url", "", "--public-url", "localhost:3000", "not an http(s)://host"},
		{"s3-public-url", "SCANLEDGER_S3_PUBLIC_URL", "", "s3.example.com", "not an http(s)://host"},
		{"blobs", "SCANLEDGER_BLOBS", "", "s3://photos?ssl=yes", "?ssl= is neither true nor false"},
		{"blobs", "", "--blobs", "gs://photos", "neither file:///dir nor s3://bucket"},
		{"eventstore", "SCANLEDGER_EVENTSTORE", "", "mysql://db", "neither a SQLite path"},
		{"readmodel", "", "--readmodel", "esdb://localhost:2113", "neither a postgres:// URL"},
		{"jwt-secret", "SCANLEDGER_JWT_SECRET", "", "short", "shorter than 16 characters"},
		{"jwt-issuer", "", "--jwt-issuer", "", "must not be empty"},
		{"data-dir", "SCANLEDGER_DATA_DIR", "", "", "must not be empty"},
	} {
		from := "flag " + c.flag
		if c.env != "" {
			from = "env " + c.env
		}
		t.Run(c.name+" from "+from, func(t *testing.T) {
			root := t.TempDir()
			dataDir := filepath.Join(root, "var")
			args := []string{"serve", "--addr", "127.0.0.1:0"}
			var env []string
			if c.env != "" {
				env = []string{c.env + "=" + c.value}
			} else {
				args = append(args, c.flag+"="+c.value)
			}
			if c.name != "data-dir" {
				args = append(args, "--data-dir", dataDir)
			}
			stdout, stderr, err := cli(t, root, env, args...)
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("serve did not exit with an error (err %v); stdout:\n%s", err, stdout)
			}
			want := `config ` + c.name + `: "` + c.value + `" from ` + from
			if !strings.Contains(stderr, want) || !strings.Contains(stderr, c.says) {
				t.Fatalf("stderr does not say %q ... %q:\n%s", want, c.says, stderr)
			}
			if strings.Contains(stdout, "listening") {
				t.Fatalf("serve listened: %s", stdout)
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the data dir was created (stat: %v): serve opened something before refusing", err)
			}
		})
	}
}

// `config --effective` shows every setting serve would use and where its value came
// from: the default, the environment or a flag (flags win). Secrets are never shown.
func TestConfigEffectiveShowsEveryValueInForceAndItsSource(t *testing.T) {
	table, _, err := cli(t, t.TempDir(), nil, "config")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"SCANLEDGER_WORKERS=3", "SCANLEDGER_HEARTBEAT=7s", "SCANLEDGER_JWT_SECRET=do-not-print-this-secret"}
	out, stderr, err := cli(t, t.TempDir(), env, "config", "--effective", "--heartbeat", "5s", "--roles", "http")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	lines := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		lines[f[0]] = f[1:]
	}
	if rows := strings.Count(table, "\n| `--"); len(lines) != rows {
		t.Errorf("%d settings shown, want all %d:\n%s", len(lines), rows, out)
	}
	for setting, want := range map[string]string{
		"addr":          "default 127.0.0.1:3000",
		"workers":       "env SCANLEDGER_WORKERS 3",
		"heartbeat":     "flag --heartbeat 5s",
		"roles":         "flag --roles http",
		"public-url":    "default (unset)",
		"jwt-secret":    "env SCANLEDGER_JWT_SECRET (set, not shown)",
		"log-level":     "default info",
		"eventstore":    "default (unset)",
		"seal-interval": "default 1m",
	} {
		if got := strings.Join(lines[setting], " "); got != want {
			t.Errorf("%s: %q, want %q", setting, got, want)
		}
	}
	if strings.Contains(out, "do-not-print-this-secret") {
		t.Errorf("config --effective printed the secret:\n%s", out)
	}
	if _, stderr, err := cli(t, t.TempDir(), []string{"SCANLEDGER_S3_USE_SSL=yes"}, "config", "--effective"); err == nil ||
		!strings.Contains(stderr, `config s3-use-ssl: "yes" from env SCANLEDGER_S3_USE_SSL`) {
		t.Errorf("a bad value: %v\n%s", err, stderr)
	}
}

// `scanledger --help` lists the commands; each command's --help lists its own flags
// and only those.
func TestHelpListsTheCommandsAndEachCommandOnlyItsFlags(t *testing.T) {
	for _, help := range []string{"--help", "-h", "help"} {
		out, stderr, err := cli(t, t.TempDir(), nil, help)
		if err != nil {
			t.Fatalf("%s: %v\n%s", help, err, stderr)
		}
		for _, cmd := range []string{"serve", "token", "role", "migrate", "verify", "config", "backup", "loadgen"} {
			if !strings.Contains(out, "\n  "+cmd+" ") {
				t.Errorf("%s does not list %s:\n%s", help, cmd, out)
			}
		}
		if strings.Contains(out+stderr, "-heartbeat") {
			t.Errorf("%s prints serve's flags:\n%s%s", help, out, stderr)
		}
	}
	for _, c := range []struct {
		args       []string
		has, lacks []string
	}{
		{[]string{"serve", "--help"}, []string{"-addr", "-heartbeat", "-jwt-secret", "-data-dir", "-photo-sweep-grace"}, nil},
		{[]string{"role", "--help"}, []string{"-email", "-role", "-data-dir", "-eventstore"}, []string{"-addr", "-heartbeat", "-jwt-secret", "-blobs"}},
		{[]string{"migrate", "--help"}, []string{"-data-dir", "-eventstore", "-readmodel"}, []string{"-addr", "-workers", "-analyzer"}},
		{[]string{"token", "--help"}, []string{"-user", "-role", "-jwt-secret", "-access-ttl"}, []string{"-addr", "-workers", "-blobs"}},
		{[]string{"backup", "--help"}, []string{"-to", "-blobs", "-data-dir"}, []string{"-addr", "-jwt-secret", "-heartbeat"}},
		{[]string{"verify", "--help"}, []string{"-all", "-audit-key", "-data-dir"}, []string{"-addr", "-jwt-secret", "-cors-origins"}},
	} {
		_, stderr, _ := cli(t, t.TempDir(), nil, c.args...)
		for _, f := range c.has {
			if !shows(stderr, f) {
				t.Errorf("%v does not show %s:\n%s", c.args, f, stderr)
			}
		}
		for _, f := range c.lacks {
			if shows(stderr, f) {
				t.Errorf("%v shows %s, not its flag:\n%s", c.args, f, stderr)
			}
		}
	}
}

// shows reports whether a flag set's usage lists the flag.
func shows(usage, flag string) bool {
	return strings.Contains(usage, "\n  "+flag+" ") || strings.Contains(usage, "\n  "+flag+"\n")
}
