package web

import (
	"bytes"
	"embed"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
)

//go:embed assets/index.html assets/app.js assets/style.css
var assets embed.FS

func asset(name string) []byte {
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		panic(err) // embedded at build time
	}
	return b
}

// page fills the index template.
func page(title, style, data, script string) string {
	p := string(asset("index.html"))
	p = strings.Replace(p, "<title>bpftrail view</title>", "<title>bpftrail — "+html.EscapeString(title)+"</title>", 1)
	p = strings.Replace(p, "<!--STYLE-->", style, 1)
	p = strings.Replace(p, "<!--SCRIPT-->", script, 1)
	// Last: the data may be large.
	before, after, _ := strings.Cut(p, "<!--DATA-->")
	return before + data + after
}

// Handler serves the viewer of one trace: the page, its script and style,
// and the trace's view data. Every other path is answered 404: it never
// serves files by path, so no request reaches another file.
type Handler struct {
	dir      string
	dataPath string
	index    []byte
}

// NewHandler prepares the view data of the trace in dir (see [Prepare])
// and returns its handler. Remove returns the path of a temporary data file
// to delete when done, or "".
func NewHandler(dir string, opt Options) (h *Handler, remove string, err error) {
	path, tmp, err := Prepare(dir, opt)
	if err != nil {
		return nil, "", err
	}
	if tmp {
		remove = path
	}
	h = &Handler{dir: dir, dataPath: path}
	h.index = []byte(page(traceName(dir),
		`<link rel="stylesheet" href="style.css">`, "",
		`<script type="module" src="app.js"></script>`))
	return h, remove, nil
}

// DataPath is the file the handler serves as data.json.
func (h *Handler) DataPath() string { return h.dataPath }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'")
	switch r.URL.Path {
	case "/", "/index.html":
		hd.Set("Content-Type", "text/html; charset=utf-8")
		hd.Set("Cache-Control", "no-cache")
		w.Write(h.index)
	case "/app.js":
		hd.Set("Content-Type", "text/javascript; charset=utf-8")
		hd.Set("Cache-Control", "no-cache")
		w.Write(asset("app.js"))
	case "/style.css":
		hd.Set("Content-Type", "text/css; charset=utf-8")
		hd.Set("Cache-Control", "no-cache")
		w.Write(asset("style.css"))
	case "/data.json":
		f, err := os.Open(h.dataPath)
		if err != nil {
			http.Error(w, "view data: "+err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			http.Error(w, "view data: "+err.Error(), http.StatusInternalServerError)
			return
		}
		hd.Set("Content-Type", "application/json")
		hd.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "data.json", fi.ModTime(), f)
	default:
		http.NotFound(w, r)
	}
}

// WriteReport writes the viewer of the trace in dir as one self-contained
// HTML page: style, script and view data inlined, nothing fetched.
func WriteReport(w io.Writer, dir string, opt Options) error {
	path, tmp, err := Prepare(dir, opt)
	if err != nil {
		return err
	}
	if tmp {
		defer os.Remove(path)
	}
	return writeReport(w, traceName(dir), path)
}

func writeReport(w io.Writer, title, dataPath string) error {
	js := asset("app.js")
	if bytes.Contains(bytes.ToLower(js), []byte("</script")) {
		return fmt.Errorf("web: app.js holds </script")
	}
	p := page(title, "<style>\n"+string(asset("style.css"))+"</style>", "\x00", "<script type=\"module\">\n"+string(js)+"</script>")
	before, after, _ := strings.Cut(p, "\x00")
	if _, err := io.WriteString(w, before); err != nil {
		return err
	}
	if _, err := io.WriteString(w, `<script type="application/json" id="trace-data">`); err != nil {
		return err
	}
	f, err := os.Open(dataPath)
	if err != nil {
		return err
	}
	defer f.Close()
	// The data is JSON written with <, > and & escaped: it cannot end the
	// script element.
	if _, err := io.Copy(w, f); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "</script>\n"+after); err != nil {
		return err
	}
	return nil
}

// LoopbackHosts wraps h to answer 403 to requests whose Host header is not
// a loopback name or address (localhost, 127.0.0.0/8, [::1]): a server bound
// to loopback is then out of reach of pages that rebind their DNS name to
// 127.0.0.1.
func LoopbackHosts(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hst, _, err := net.SplitHostPort(host); err == nil {
			host = hst
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		ok := strings.EqualFold(host, "localhost")
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			ok = true
		}
		if !ok {
			http.Error(w, "forbidden host", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
