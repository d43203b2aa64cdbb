package transport

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// NegotiateResponse is the body of a successful POST {hub}/negotiate.
type NegotiateResponse struct {
	ConnectionID         string               `json:"connectionId,omitempty"`
	ConnectionToken      string               `json:"connectionToken,omitempty"`
	NegotiateVersion     int                  `json:"negotiateVersion"`
	AvailableTransports  []AvailableTransport `json:"availableTransports"`
	UseStatefulReconnect bool                 `json:"useStatefulReconnect,omitempty"`
}

// AvailableTransport names one transport a client may use and the transfer
// formats ("Text", "Binary") it carries.
type AvailableTransport struct {
	Transport       string   `json:"transport"`
	TransferFormats []string `json:"transferFormats"`
}

// NegotiateVersion reads the negotiateVersion query value as the official
// server does: missing or unparsable is 0, anything above 1 is 1.
func NegotiateVersion(r *http.Request) int {
	v, err := strconv.Atoi(r.URL.Query().Get("negotiateVersion"))
	if err != nil || v < 0 {
		return 0
	}
	return min(v, 1)
}

// WriteNegotiate writes resp as the 200 response to a negotiate request.
func WriteNegotiate(w http.ResponseWriter, resp *NegotiateResponse) error {
	b, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}
