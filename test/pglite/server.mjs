// A Postgres with pgvector for Go tests: PGlite (Postgres in WebAssembly)
// with its vector extension, in memory, behind pglite-socket's wire
// protocol server on 127.0.0.1:PORT (0: a free port). PGlite runs one query at a time: the
// server queues the connections' queries (a transaction's run together),
// so a client should keep to one connection (pgx: pool_max_conns=1); a
// few more are let in so that a closed connection's slot, freed a moment
// late, does not refuse the next one.
// It prints "ready PORT" once it listens and stops when its stdin closes.
import { PGlite } from '@electric-sql/pglite'
import { vector } from '@electric-sql/pglite-pgvector'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

const port = Number(process.argv[2] ?? 0)
const db = await PGlite.create({ extensions: { vector } })
const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1', maxConnections: 4 })
await server.start()
console.log(`ready ${server.port}`)

const stop = async () => {
  await server.stop()
  await db.close()
  process.exit(0)
}
process.stdin.on('end', stop)
process.stdin.on('close', stop)
process.stdin.resume()
process.on('SIGTERM', stop)
