package limit

// ScopesHeld returns how many scopes m keeps state for.
func (m *Memory) ScopesHeld() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.scopes)
}
