package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/audit"
	"github.com/scanledger/scanledger/domain/scan"
)

// verifyCmd is `scanledger verify [--all | --scan ID]`: every chain and every head
// against the latest seal. Exit 0 only when nothing is wrong.
type verifyCmd struct{ scanID, file, publicKey string }

func (c *verifyCmd) setFlags(fs *flag.FlagSet) {
	_ = fs.Bool("all", false, "verify every stream (the default)")
	fs.StringVar(&c.scanID, "scan", "", "verify one scan only")
	fs.StringVar(&c.file, "file", "", "verify an export file instead, with no database")
	auditFlags(fs, &c.publicKey)
}

func (c *verifyCmd) execute(ctx context.Context, cfg Config, _ *flag.FlagSet, stdout, stderr io.Writer) error {
	if c.file != "" {
		return verifyFile(c.file, c.publicKey, stdout)
	}
	pub, err := publicKey(&cfg, c.publicKey)
	if err != nil {
		return err
	}
	e, err := openStores(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	v := audit.Verifier{Store: e.store, Public: pub}
	start := time.Now()
	var rep audit.Report
	if c.scanID != "" {
		if !domain.ValidID(c.scanID) {
			return fmt.Errorf("verify: scan id %q is not a UUID", c.scanID)
		}
		rep, err = v.Stream(ctx, scan.StreamName(c.scanID))
	} else {
		if isTerminal(stderr) {
			v.Progress = func(n int64) { fmt.Fprintf(stderr, "\rverifying... %d events", n) }
			defer fmt.Fprint(stderr, "\r\033[K")
		}
		rep, err = v.All(ctx)
	}
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return printReport(stdout, rep, time.Since(start))
}

// verifyFile checks an export offline: the key is the pinned one, or the file's own
// (which proves only that the file is consistent with itself, and is said so).
func verifyFile(path, pubHex string, stdout io.Writer) error {
	var pub ed25519.PublicKey
	if pubHex != "" {
		var err error
		if pub, err = audit.ParsePublicKey(pubHex); err != nil {
			return err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	start := time.Now()
	rep, err := audit.VerifyFile(f, pub)
	if err != nil {
		return fmt.Errorf("verify %s: %s", path, domain.ErrorMessage(err))
	}
	if !rep.KeyPinned {
		fmt.Fprintf(stdout, "WARNING: checked with the key inside the file (id %s); pass --public-key to pin the service's key\n", rep.KeyID)
	}
	return printReport(stdout, rep.Report, time.Since(start))
}

// printReport writes one line per problem and a summary line, and returns an error
// when anything is wrong.
func printReport(w io.Writer, rep audit.Report, took time.Duration) error {
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "BROKEN %s\n", p)
	}
	broken := map[string]bool{}
	for _, p := range rep.Problems {
		if p.Stream != "*" { // store-wide findings name no stream
			broken[p.Stream] = true
		}
	}
	sealed := "not sealed"
	if rep.Seal != nil {
		sealed = fmt.Sprintf("sealed at %s (seal %d, key %s", rep.Seal.Time.Format(time.RFC3339), rep.Seal.Seq, rep.Seal.KeyID)
		if rep.Unsealed > 0 {
			sealed += fmt.Sprintf(", %d events since", rep.Unsealed)
		}
		sealed += ")"
	}
	legacy := ""
	if rep.Legacy > 0 {
		legacy = fmt.Sprintf(", %d under the version 1 chain", rep.Legacy)
	}
	fmt.Fprintf(w, "%d streams, %d events%s, %d broken, %s [%.1fs]\n", rep.Streams, rep.Events, legacy, len(broken), sealed, took.Seconds())
	if !rep.OK() {
		return errors.New("verification failed")
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
