package web

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/tracedir"
)

func TestHandler(t *testing.T) {
	dir := smallTrace(t)
	// A secret next to the trace that no request may reach.
	os.WriteFile(filepath.Join(filepath.Dir(dir), "secret"), []byte("SECRET"), 0o644)
	h, remove, err := NewHandler(dir, Options{})
	if err != nil || remove != "" {
		t.Fatal(err, remove)
	}
	srv := httptest.NewServer(LoopbackHosts(h))
	defer srv.Close()

	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	code, ct, body := get("/")
	if code != 200 || !strings.HasPrefix(ct, "text/html") || !strings.Contains(body, `src="app.js"`) || !strings.Contains(body, `href="style.css"`) {
		t.Errorf("index: %d %s\n%.300s", code, ct, body)
	}
	if code, ct, body = get("/app.js"); code != 200 || !strings.HasPrefix(ct, "text/javascript") || !strings.Contains(body, "class Timeline") {
		t.Errorf("app.js: %d %s", code, ct)
	}
	if code, ct, _ = get("/style.css"); code != 200 || !strings.HasPrefix(ct, "text/css") {
		t.Errorf("style.css: %d %s", code, ct)
	}
	code, ct, body = get("/data.json")
	var v struct {
		Version int `json:"version"`
		Events  int `json:"events"`
	}
	if code != 200 || ct != "application/json" || json.Unmarshal([]byte(body), &v) != nil || v.Events != 8 {
		t.Errorf("data.json: %d %s %+v", code, ct, v)
	}
	for _, p := range []string{"/metadata", "/stream_0", "/bpftrail/view-data.json", "/index.htm", "/data.json/", "/assets/app.js", "/favicon.ico",
		"/../secret", "/..%2fsecret", "/%2e%2e/secret", "/%2e%2e%2fsecret", "/data.json/../../secret", "//etc/passwd", "/..\\secret"} {
		if code, _, body := get(p); code != 404 || strings.Contains(body, "SECRET") || strings.Contains(body, "CTF") {
			t.Errorf("GET %s: %d %.80q", p, code, body)
		}
	}
	// Raw request lines, as a client that does not clean paths sends them.
	for _, p := range []string{"/../secret", "/../../../../etc/passwd", "/./metadata", "../secret", "/%2e%2e/%2e%2e/etc/passwd"} {
		c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", p)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		c.Close()
		if resp.StatusCode/100 == 2 || bytes.Contains(b, []byte("SECRET")) || bytes.Contains(b, []byte("root:")) {
			t.Errorf("raw GET %s: %d %.80q", p, resp.StatusCode, b)
		}
	}
	// Only GET and HEAD.
	resp, err := http.Post(srv.URL+"/data.json", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
	// DNS rebinding: a foreign Host is refused.
	req, _ := http.NewRequest("GET", srv.URL+"/data.json", nil)
	req.Host = "attacker.example:80"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign host: %d", resp.StatusCode)
	}
	for _, host := range []string{"localhost:1234", "127.0.0.1", "[::1]:80"} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = host
		LoopbackHosts(h).ServeHTTP(rec, r)
		if rec.Code != 200 {
			t.Errorf("host %s: %d", host, rec.Code)
		}
	}
}

// externalRef matches what would make a page load something: URLs and
// src/href attributes.
var externalRef = regexp.MustCompile(`(?i)https?://|\bsrc\s*=|\bhref\s*=|@import|url\(`)

func writeTestReport(t testing.TB, dir string) string {
	out := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(f, dir, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReport(t *testing.T) {
	dir := smallTrace(t)
	out := writeTestReport(t, dir)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	if m := externalRef.FindAllString(page, 5); m != nil {
		t.Errorf("report refers to outside resources: %q", m)
	}
	if strings.Count(page, "<script") != 2 || !strings.Contains(page, `<script type="application/json" id="trace-data">`) || !strings.Contains(page, `<script type="module">`) || !strings.Contains(page, "<style>") {
		t.Errorf("report is not self-contained")
	}
	// The inlined data is the cache, byte for byte, and valid JSON.
	i := strings.Index(page, `id="trace-data">`) + len(`id="trace-data">`)
	j := strings.Index(page[i:], "</script>")
	data := page[i : i+j]
	cache, _ := os.ReadFile(tracedir.Path(dir, tracedir.ViewData))
	if data != string(cache) || !json.Valid([]byte(data)) {
		t.Errorf("inlined data differs from the cache or is not JSON")
	}
	// The assets themselves hold no outside reference either.
	for _, a := range []string{"app.js", "style.css"} {
		if m := externalRef.FindAllString(string(asset(a)), 5); m != nil {
			t.Errorf("%s refers to outside resources: %q", a, m)
		}
	}
}
