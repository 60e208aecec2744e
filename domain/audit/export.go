package audit

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
)

// An export is NDJSON, one object a line, each with a "kind":
//
//	header  format, the public key and a fresh seal (without its changed heads)
//	stream  a stream's sealed head and the Merkle proof that it is under the seal's root
//	event   one event of that stream, from version 0 to the sealed head, data and metadata
//	        as stored
//	end     how many streams and events, and an Ed25519 signature over the SHA-256 of
//	        every byte before this line
//
// VerifyFile checks it with nothing but the file and the public key: the chains, each
// head against its proof and the seal, the seal's signature, and the closing signature,
// so any change to any byte fails.
const ExportFormat = "scanledger-export-v1"

type exportLine struct {
	Kind string `json:"kind"`

	// header
	Format     string `json:"format,omitempty"`
	PublicKey  string `json:"publicKey,omitempty"`
	Seal       *Seal  `json:"seal,omitempty"`
	ExportedAt string `json:"exportedAt,omitempty"`
	Query      string `json:"query,omitempty"`

	// stream and event
	Stream string `json:"stream,omitempty"`
	Head   *Head  `json:"head,omitempty"`
	Proof  *Proof `json:"proof,omitempty"`

	// event
	Version       int64           `json:"version,omitempty"`
	ID            string          `json:"id,omitempty"`
	Type          string          `json:"type,omitempty"`
	SchemaVersion int             `json:"schemaVersion,omitempty"`
	Data          json.RawMessage `json:"data,omitempty"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
	RecordedAt    string          `json:"recordedAt,omitempty"`

	// end
	Streams   int    `json:"streams,omitempty"`
	Events    int64  `json:"events,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// Exporter writes exports: it seals first, so everything exported is covered.
type Exporter struct {
	Store  event.Store
	Sealer *Sealer
	Key    ed25519.PrivateKey
}

// Selection says which streams to export: the named ones, or every sealed stream with
// Prefix whose first event Keep accepts (all of them when Keep is nil).
type Selection struct {
	Streams []string
	Prefix  string
	Keep    func(first event.Recorded) bool
	Query   string // a description of the selection, recorded in the header
}

// Export writes the selected streams, up to their sealed heads, to w.
func (x *Exporter) Export(ctx context.Context, w io.Writer, sel Selection) error {
	seal, tree, err := x.Sealer.Seal(ctx)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	sum := sha256.New()
	out := io.MultiWriter(bw, sum)
	write := func(l exportLine) error {
		b, err := json.Marshal(l)
		if err != nil {
			return fmt.Errorf("encode export line: %w", err)
		}
		_, err = out.Write(append(b, '\n'))
		return err
	}
	seal.Changed = nil
	if err := write(exportLine{Kind: "header", Format: ExportFormat, PublicKey: hex.EncodeToString(x.Key.Public().(ed25519.PublicKey)),
		Seal: &seal, ExportedAt: time.Now().UTC().Format(time.RFC3339Nano), Query: sel.Query}); err != nil {
		return err
	}
	names := sel.Streams
	if names == nil {
		for _, h := range tree.heads {
			if strings.HasPrefix(h.Stream, sel.Prefix) {
				names = append(names, h.Stream)
			}
		}
	}
	sort.Strings(names)
	var streams int
	var events int64
	for _, name := range names {
		head, proof, ok := tree.Proof(name)
		if !ok {
			continue // not sealed: it did not exist yet when the export began
		}
		recs, err := readStream(ctx, x.Store, name, head.Version)
		if err != nil {
			return err
		}
		if len(recs) == 0 || (sel.Keep != nil && !sel.Keep(recs[0])) {
			continue
		}
		streams++
		if err := write(exportLine{Kind: "stream", Stream: name, Head: &head, Proof: &proof}); err != nil {
			return err
		}
		for _, r := range recs {
			events++
			if err := write(exportLine{Kind: "event", Stream: name, Version: r.Version, ID: r.ID, Type: r.Type,
				SchemaVersion: r.SchemaVersion, Data: r.Data, Metadata: r.Metadata,
				RecordedAt: r.RecordedAt.UTC().Format(time.RFC3339Nano)}); err != nil {
				return err
			}
		}
	}
	sig := ed25519.Sign(x.Key, exportDigest(sum))
	b, err := json.Marshal(exportLine{Kind: "end", Streams: streams, Events: events, Signature: base64.StdEncoding.EncodeToString(sig)})
	if err != nil {
		return err
	}
	if _, err := bw.Write(append(b, '\n')); err != nil {
		return err
	}
	return bw.Flush()
}

func exportDigest(sum hash.Hash) []byte {
	d := sha256.Sum256(append([]byte(ExportFormat+"\n"), sum.Sum(nil)...))
	return d[:]
}

// readStream reads stream's events up to and including version.
func readStream(ctx context.Context, st event.Store, stream string, version int64) ([]event.Recorded, error) {
	var all []event.Recorded
	for int64(len(all)) <= version {
		recs, err := st.ReadStream(ctx, stream, int64(len(all)), 512)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		if len(recs) == 0 {
			break
		}
		all = append(all, recs...)
	}
	for len(all) > 0 && all[len(all)-1].Version > version {
		all = all[:len(all)-1]
	}
	return all, nil
}

// FileReport is the outcome of checking an export file.
type FileReport struct {
	Report
	// KeyPinned says whether the caller gave the public key; without it the key in the
	// file was used, which proves only that the file is consistent with itself.
	KeyPinned bool   `json:"keyPinned"`
	KeyID     string `json:"keyId"`
}

// VerifyFile checks an export read from r. With pub nil it uses the key in the file.
func VerifyFile(r io.Reader, pub ed25519.PublicKey) (FileReport, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	sum := sha256.New()
	var rep FileReport
	rep.KeyPinned = pub != nil
	bad := func(stream string, version int64, format string, args ...any) {
		rep.Problems = append(rep.Problems, Problem{Stream: stream, Version: version, Reason: fmt.Sprintf(format, args...)})
	}
	var (
		seal     *Seal
		cur      *event.ChainState
		curHead  Head
		curProof Proof
		ended    bool
		lineNo   int
	)
	closeStream := func() {
		if cur == nil {
			return
		}
		switch {
		case cur.Next-1 != curHead.Version:
			bad(cur.Stream, cur.Next, "the file ends the stream at version %d, its sealed head is version %d", cur.Next-1, curHead.Version)
		case cur.Head != curHead.Hash:
			bad(cur.Stream, curHead.Version, "head differs from the sealed one")
		case seal != nil && !VerifyProof(curHead, curProof, seal.Root):
			bad(cur.Stream, curHead.Version, "the head's proof does not lead to the seal's root")
		}
		cur = nil
	}
	for {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 && errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return FileReport{}, fmt.Errorf("read export: %w", err)
		}
		lineNo++
		if ended {
			bad("*", -1, "line %d: content after the end line", lineNo)
			break
		}
		var l exportLine
		if err := json.Unmarshal(line, &l); err != nil {
			return FileReport{}, domain.Errorf(domain.EINVALID, "export line %d is not JSON: %v", lineNo, err)
		}
		if l.Kind != "end" {
			sum.Write(line)
		}
		switch l.Kind {
		case "header":
			if lineNo != 1 || l.Format != ExportFormat || l.Seal == nil {
				return FileReport{}, domain.Errorf(domain.EINVALID, "not a %s file", ExportFormat)
			}
			if pub == nil {
				if pub, err = ParsePublicKey(l.PublicKey); err != nil {
					return FileReport{}, err
				}
			}
			rep.KeyID = KeyID(pub)
			seal = l.Seal
			if err := seal.Check(pub); err != nil {
				bad(SealStream, -1, "%s", domain.ErrorMessage(err))
			}
			rep.Seal, rep.Seals = seal, 1
		case "stream":
			closeStream()
			if l.Head == nil || l.Proof == nil {
				bad(l.Stream, -1, "stream without its sealed head and proof")
				continue
			}
			rep.Streams++
			cur, curHead, curProof = &event.ChainState{Stream: l.Stream}, *l.Head, *l.Proof
		case "event":
			rep.Events++
			if cur == nil || l.Stream != cur.Stream {
				bad(l.Stream, l.Version, "event outside its stream's block")
				continue
			}
			rec := event.Recorded{ID: l.ID, StreamID: l.Stream, Version: l.Version, Type: l.Type,
				SchemaVersion: l.SchemaVersion, Data: l.Data, Metadata: l.Metadata}
			if err := cur.Check(rec); err != nil {
				rep.Problems = append(rep.Problems, problemOf(rec, err))
				cur.Next, cur.Head = l.Version+1, "broken"
			}
		case "end":
			closeStream()
			ended = true
			if l.Streams != rep.Streams || l.Events != rep.Events {
				bad("*", -1, "the end line counts %d streams and %d events, the file holds %d and %d", l.Streams, l.Events, rep.Streams, rep.Events)
			}
			sig, err := base64.StdEncoding.DecodeString(l.Signature)
			if err != nil || pub == nil || !ed25519.Verify(pub, exportDigest(sum), sig) {
				bad("*", -1, "the file's closing signature does not verify: the file was changed")
			}
		default:
			bad("*", -1, "line %d: unknown kind %q", lineNo, l.Kind)
		}
	}
	if seal == nil {
		return FileReport{}, domain.Errorf(domain.EINVALID, "not a %s file", ExportFormat)
	}
	if !ended {
		closeStream()
		bad("*", -1, "the file has no end line: it was cut short")
	}
	sortProblems(rep.Problems)
	return rep, nil
}
