package telemetry

// RecordCacheLookup counts a cacheable request's lookup in the response
// cache: result is "hit" or "miss".
func (m *Metrics) RecordCacheLookup(alias, result string) {
	if m == nil {
		return
	}
	m.cacheLookups.WithLabelValues(m.aliases.value(alias), result).Inc()
}

// RecordCacheStore counts an answer stored in the response cache.
func (m *Metrics) RecordCacheStore(alias string) {
	if m == nil {
		return
	}
	m.cacheStores.WithLabelValues(m.aliases.value(alias)).Inc()
}

// RecordCacheError counts a failure of the response cache's backend or of
// an entry (op: get, set, encode, decode), or of the semantic cache (op:
// embed, semantic_search, semantic_add); the request was served as a
// miss.
func (m *Metrics) RecordCacheError(op string) {
	if m == nil {
		return
	}
	m.cacheErrors.WithLabelValues(op).Inc()
}
