package httpapi_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
)

// Whatever a client sends as a multipart upload, the server answers with a 2xx or a 4xx
// (never a 5xx: nothing it reads can be the server's fault here) and never panics.
func FuzzUploadBody(f *testing.F) {
	jpeg := append([]byte("\xff\xd8\xff\xe0"), bytes.Repeat([]byte{0}, 600)...)
	for _, seed := range []struct{ parts [][2]string }{
		{[][2]string{{"images", string(jpeg)}}},
		{[][2]string{{"images", string(jpeg)}, {"rooms", `[{"imageIndices":["0"]}]`}, {"address", "1 Road"}}},
		{[][2]string{{"images", "GIF89a"}, {"rooms", `[{"imageIndices":[0,0,1]}]`}}},
		{[][2]string{{"address", "x\x00y"}}},
		{[][2]string{{"other", "1"}}},
	} {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.SetBoundary("fuzzboundary")
		for _, p := range seed.parts {
			if p[0] == "images" {
				w, _ := mw.CreateFormFile("images", "a.jpg")
				io.WriteString(w, p[1])
			} else {
				mw.WriteField(p[0], p[1])
			}
		}
		mw.Close()
		f.Add(buf.Bytes())
	}
	f.Add([]byte("--fuzzboundary\r\nContent-Disposition: form-data; name=\"images\"; filename=\"a\"\r\n\r\n\xff\xd8\xff"))
	f.Add([]byte(""))

	api := newHardenedAPI(f, "", nil)
	issuer := testIssuer()
	bearer, _, err := issuer.Issue(auth.Access, domain.NewID(), auth.RoleUser)
	if err != nil {
		f.Fatal(err)
	}
	post := func(path, contentType string, body io.Reader) (int, string) {
		req, _ := http.NewRequest("POST", api.url+"/api/v1"+path, body)
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			f.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := post("/scans", "application/json", strings.NewReader(`{"address":"1 Fuzz Road"}`))
	if status != http.StatusCreated {
		f.Fatalf("create scan: %d %s", status, body)
	}
	scanID := body[strings.Index(body, `"scanId":"`)+10:][:36]
	f.Fuzz(func(t *testing.T, b []byte) {
		status, body := post("/scans/"+scanID+"/images", "multipart/form-data; boundary=fuzzboundary", bytes.NewReader(b))
		if status >= 500 {
			t.Fatalf("status %d for %q: %s", status, b, body)
		}
	})
}
