package config

import "time"

// Responses configures OpenAI's Responses API (POST /v1/responses). Zero
// values take the defaults.
type Responses struct {
	// Retention is how long a stored response (store: true, the default)
	// can be read and continued with previous_response_id; expired ones
	// are purged (default 720h, 30 days).
	Retention Duration `yaml:"retention" json:"retention,omitempty"`
}

// maxRetention bounds responses.retention: ten years.
const maxRetention = 10 * 365 * 24 * time.Hour

func (v *validator) responses(c *Config) {
	if r := c.Responses.Retention.D(); r != 0 && (r < time.Minute || r > maxRetention) {
		v.add("responses.retention", "must be from 1m to 87600h (ten years), got %s", r)
	}
}
