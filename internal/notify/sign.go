package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers.
const (
	headerWebhookID        = "Webhook-Id"
	headerWebhookTimestamp = "Webhook-Timestamp"
	headerWebhookSignature = "Webhook-Signature"
)

// sign adds Standard Webhooks headers to h for body: the event id (the
// same on every attempt, so receivers can de-duplicate), the time of
// this attempt and one v1 signature per key, HMAC-SHA256 over
// "id.timestamp.body". Several keys let a receiver rotate secrets.
func sign(h http.Header, keys [][]byte, id string, at time.Time, body []byte) {
	if len(keys) == 0 {
		return
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	sigs := make([]string, len(keys))
	for i, k := range keys {
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	h.Set(headerWebhookID, id)
	h.Set(headerWebhookTimestamp, ts)
	h.Set(headerWebhookSignature, strings.Join(sigs, " "))
}
