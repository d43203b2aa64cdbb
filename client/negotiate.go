package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"

	"github.com/gosignalr/signalr/transport"
)

// userAgent is sent as X-SignalR-User-Agent, the header in which the
// official clients describe themselves.
var userAgent = fmt.Sprintf("gosignalr-client/1.0 (%s; Go; %s)", runtime.GOOS, runtime.Version())

// maxNegotiateBody bounds the negotiate response read into memory.
const maxNegotiateBody = 1 << 20

// tokenSource holds the bearer token of one connection attempt: the
// provider's (fetched for every negotiate and again after a 401) or the one
// a negotiate redirect handed out (fixed from then on).
type tokenSource struct {
	provider func(ctx context.Context) (string, error)
	mu       sync.Mutex
	token    string
	fixed    bool
}

// get returns the token, fetching one from the provider when fresh is set
// or none is held yet. refreshed reports whether the provider was asked.
func (t *tokenSource) get(ctx context.Context, fresh bool) (tok string, refreshed bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fixed || t.provider == nil || (t.token != "" && !fresh) {
		return t.token, false, nil
	}
	tok, err = t.provider(ctx)
	if err != nil {
		return "", true, fmt.Errorf("signalr client: access token provider: %w", err)
	}
	t.token = tok
	return tok, true, nil
}

func (t *tokenSource) setFixed(tok string) {
	t.mu.Lock()
	t.token, t.fixed = tok, true
	t.mu.Unlock()
}

// httpEnv makes the HTTP requests of one connection attempt.
type httpEnv struct {
	hc     *http.Client
	header http.Header
	tokens *tokenSource
}

// headers returns the headers every request carries: the user's, the
// client's description and the bearer token.
func (e *httpEnv) headers(tok string) http.Header {
	h := e.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("X-Requested-With", "XMLHttpRequest")
	h.Set("X-SignalR-User-Agent", userAgent)
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	return h
}

// do sends one request. With fresh the token is fetched anew and a 401 is
// final (negotiate, as the official client does); otherwise a 401 fetches
// a new token and retries once.
func (e *httpEnv) do(ctx context.Context, method, u string, body []byte, header http.Header, fresh bool) (*http.Response, error) {
	tok, refreshed, err := e.tokens.get(ctx, fresh)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return nil, err
		}
		req.Header = e.headers(tok)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := e.hc.Do(req)
		if err != nil {
			return nil, redact(err)
		}
		if resp.StatusCode != http.StatusUnauthorized || refreshed || attempt > 0 {
			return resp, nil
		}
		newTok, asked, err := e.tokens.get(ctx, true)
		if err != nil {
			drain(resp)
			return nil, err
		}
		if !asked {
			return resp, nil // no provider, or a token fixed by a redirect
		}
		drain(resp)
		tok, refreshed = newTok, true
	}
}

// redact hides the connection token in the URL of an *url.Error, so that
// errors can be logged and shown.
func redact(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		ue.URL = "(invalid URL)"
		return err
	}
	q := u.Query()
	for _, k := range []string{"id", "access_token"} {
		if q.Has(k) {
			q.Set(k, "redacted")
		}
	}
	u.RawQuery = q.Encode()
	ue.URL = u.String()
	return err
}

// drain discards and closes a response body so that its connection can be
// reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// statusError reads the start of resp's body into a StatusError and closes
// the body.
func statusError(op string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	drain(resp)
	return &StatusError{Op: op, StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(b))}
}

// negotiateResponse is the body of a negotiate reply, redirects and errors
// included.
type negotiateResponse struct {
	ConnectionID         string                         `json:"connectionId"`
	ConnectionToken      string                         `json:"connectionToken"`
	NegotiateVersion     int                            `json:"negotiateVersion"`
	AvailableTransports  []transport.AvailableTransport `json:"availableTransports"`
	UseStatefulReconnect bool                           `json:"useStatefulReconnect"`
	URL                  string                         `json:"url"`
	AccessToken          string                         `json:"accessToken"`
	Error                string                         `json:"error"`
	ProtocolVersion      json.RawMessage                `json:"ProtocolVersion"`
}

// negotiateURL is hubURL with /negotiate appended to its path and
// negotiateVersion=1 (and useStatefulReconnect=true) added to its query,
// keeping what the query already holds.
func negotiateURL(hubURL string, stateful bool) (string, error) {
	u, err := url.Parse(hubURL)
	if err != nil {
		return "", fmt.Errorf("signalr client: invalid URL: %w", err)
	}
	if strings.HasSuffix(u.Path, "/") {
		u.Path += "negotiate"
	} else {
		u.Path += "/negotiate"
	}
	if u.RawPath != "" {
		u.RawPath = ""
	}
	q := u.Query()
	if !q.Has("negotiateVersion") {
		q.Set("negotiateVersion", "1")
	}
	if stateful && !q.Has("useStatefulReconnect") {
		q.Set("useStatefulReconnect", "true")
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// connectURL adds id=<token> to hubURL's query.
func connectURL(hubURL, token string) string {
	if token == "" {
		return hubURL
	}
	sep := "?"
	if strings.Contains(hubURL, "?") {
		sep = "&"
	}
	return hubURL + sep + "id=" + url.QueryEscape(token)
}

// negotiate posts one negotiate request to hubURL.
func (e *httpEnv) negotiate(ctx context.Context, hubURL string, stateful bool) (*negotiateResponse, error) {
	nu, err := negotiateURL(hubURL, stateful)
	if err != nil {
		return nil, err
	}
	resp, err := e.do(ctx, http.MethodPost, nu, nil, nil, true)
	if err != nil {
		return nil, fmt.Errorf("signalr client: negotiate: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusError("negotiate", resp)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxNegotiateBody+1))
	drain(resp)
	if err != nil {
		return nil, fmt.Errorf("signalr client: negotiate: reading the response: %w", err)
	}
	if len(body) > maxNegotiateBody {
		return nil, fmt.Errorf("signalr client: negotiate: response larger than %d bytes", maxNegotiateBody)
	}
	var nr negotiateResponse
	if err := json.Unmarshal(body, &nr); err != nil {
		return nil, fmt.Errorf("signalr client: negotiate: invalid response: %w", err)
	}
	if nr.NegotiateVersion < 1 {
		// A version 0 server knows the connection by its id alone.
		nr.ConnectionToken = nr.ConnectionID
	}
	if nr.UseStatefulReconnect && !stateful {
		return nil, errors.New("signalr client: negotiate: the server enabled stateful reconnect, which the client did not ask for")
	}
	return &nr, nil
}

// negotiateFollow negotiates at hubURL, following redirects, and returns
// the final response with the URL the connection lives at.
func (e *httpEnv) negotiateFollow(ctx context.Context, hubURL string, stateful bool) (*negotiateResponse, string, error) {
	for redirects := 0; ; redirects++ {
		nr, err := e.negotiate(ctx, hubURL, stateful)
		if err != nil {
			return nil, "", err
		}
		if nr.Error != "" {
			return nil, "", &NegotiateError{Message: nr.Error}
		}
		if len(nr.ProtocolVersion) > 0 {
			return nil, "", errors.New("signalr client: negotiate: the server is an ASP.NET SignalR server, not an ASP.NET Core SignalR server")
		}
		if nr.AccessToken != "" {
			e.tokens.setFixed(nr.AccessToken)
		}
		if nr.URL == "" {
			return nr, hubURL, nil
		}
		if redirects+1 >= maxRedirects {
			return nil, "", fmt.Errorf("signalr client: negotiate: more than %d redirects", maxRedirects)
		}
		hubURL = nr.URL
	}
}
