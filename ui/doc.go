// Package ui is Bulwark's admin console: static pages served at /ui/ by
// `bulwark serve`, embedded in the binary (no CDN, no build step: plain
// HTML, CSS and JavaScript modules; the charts are drawn as SVG by
// assets/js/chart.js).
//
// Authentication: the console's assets carry no data, so they are served
// without a key. Every figure the pages show is fetched by the page from
// the admin API (/admin/v1/…) with the admin key as a bearer token, as any
// admin client sends it. The key is typed into the console's sign-in form
// and kept in the tab's sessionStorage: it is sent only in the
// Authorization header of those requests (never in a URL, a cookie or a
// log), is gone when the tab closes, and, there being no cookie, no other
// site can make the browser call the admin API on the operator's behalf
// (no cross-site request forgery). Signing out forgets it. The key's field
// has no name, so the sign-in form, were its script not to run, would send
// nothing. A tenant's admin key signs in too, and sees what the admin API
// shows it (the traffic and its charts are the operator's).
//
// Invariants:
//   - Every response under /ui/ carries a strict Content-Security-Policy
//     (default-src 'self', no inline script or style, no framing), and
//     X-Frame-Options DENY, Referrer-Policy no-referrer and
//     X-Content-Type-Options nosniff. The pages never build HTML from data:
//     every value is set as text (textContent), so a tenant name or a
//     captured prompt cannot run as script.
//   - A path under /ui/ that names no asset is a 404 in OpenAI's error
//     format; "/ui" redirects to "/ui/".
//   - Assets are served with an ETag of their content, so a browser
//     revalidates them and a new binary's console is never mixed with an
//     old one's.
//
// This package imports api and the standard library only.
package ui
