package redis

// ReserveAs exposes reserve with a chosen reservation ID, to test retries.
var ReserveAs = (*Limiter).reserve
