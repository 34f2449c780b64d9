// The web console: sign-in, navigation and the hash router. Routes live in the hash (#/servers/3) so
// the API serves one index.html for /ui and no token or id ever needs a server-side route.
import { QueryClient, QueryClientProvider, useQuery } from '@tanstack/react-query';
import { StrictMode, useEffect, useState, type FormEvent } from 'react';
import { createRoot } from 'react-dom/client';
import { ApiError, call, client, token } from './api';
import { AuditPage } from './pages/audit';
import { BuildPage } from './pages/build';
import { CertificationsPage } from './pages/certifications';
import { GovernancePage, RunPage } from './pages/governance';
import { MarketplacePage } from './pages/marketplace';
import { PromotionsPage } from './pages/promotions';
import { SecretsPage } from './pages/secrets';
import { ServerPage } from './pages/server';
import { ServersPage } from './pages/servers';
import { UsersPage } from './pages/users';
import './style.css';
import { ErrorDisplay, SessionContext, type ConsoleConfig, type Session } from './ui';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: { retry: (n, err) => !(err instanceof ApiError && err.status < 500) && n < 2, staleTime: 5_000 },
  },
});

function useHashRoute(): string[] {
  const read = () => window.location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

function SignIn({ onSignedIn, error }: { onSignedIn: () => void; error: unknown }) {
  const [value, setValue] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    token.set(value.trim());
    onSignedIn();
  };
  return (
    <main className="signin">
      <h1>mcp-host console</h1>
      <form onSubmit={submit} aria-label="Sign in">
        <label htmlFor="token">API token</label>
        <input
          id="token"
          type="password"
          autoComplete="off"
          required
          value={value}
          onChange={(e) => setValue(e.target.value)}
        />
        <button type="submit">Sign in</button>
        <p className="hint">Kept in this tab's session storage only; signing out or closing the tab forgets it.</p>
      </form>
      <ErrorDisplay error={error} />
    </main>
  );
}

const NAV: [string, string, boolean][] = [
  ['servers', 'Servers', false],
  ['marketplace', 'Marketplace', false],
  ['governance', 'Governance', false],
  ['promotions', 'Promotions', false],
  ['certifications', 'Certifications', false],
  ['audit', 'Gateway audit', false],
  ['secrets', 'Secrets', true],
  ['users', 'Users and tokens', true],
];

function Page({ route }: { route: string[] }) {
  const [section, id] = route;
  const n = id ? Number(id) : NaN;
  switch (section) {
    case 'servers':
      return Number.isInteger(n) ? <ServerPage id={n} /> : <ServersPage />;
    case 'builds':
      return <BuildPage id={n} />;
    case 'marketplace':
      return <MarketplacePage />;
    case 'governance':
      return route[1] === 'runs' && route[2] ? <RunPage id={Number(route[2])} /> : <GovernancePage />;
    case 'promotions':
      return <PromotionsPage focus={Number.isInteger(n) ? n : undefined} />;
    case 'certifications':
      return <CertificationsPage focus={Number.isInteger(n) ? n : undefined} />;
    case 'audit':
      return <AuditPage />;
    case 'secrets':
      return <SecretsPage />;
    case 'users':
      return <UsersPage />;
    default:
      return <ServersPage />;
  }
}

function App() {
  const [signedIn, setSignedIn] = useState(() => token.get() !== null);
  const [refused, setRefused] = useState<unknown>(null);
  const route = useHashRoute();
  const me = useQuery({
    queryKey: ['me', signedIn],
    enabled: signedIn,
    queryFn: () => call(client.GET('/api/me')),
  });
  const config = useQuery({
    queryKey: ['console-config'],
    queryFn: async (): Promise<ConsoleConfig> => (await fetch('/ui/config.json')).json(),
  });
  useEffect(() => {
    // A token the API refuses is forgotten: the sign-in form comes back with the reason.
    if (me.error instanceof ApiError && me.error.status === 401) {
      token.clear();
      setRefused(me.error);
      setSignedIn(false);
    }
  }, [me.error]);

  if (!signedIn || !me.data) {
    if (signedIn && me.isPending) return <p className="loading">Signing in…</p>;
    return (
      <SignIn
        onSignedIn={() => {
          setRefused(null);
          setSignedIn(true);
        }}
        error={refused ?? me.error}
      />
    );
  }
  const session: Session = {
    me: me.data,
    canMutate: me.data.role === 'admin' || me.data.role === 'operator',
    isAdmin: me.data.role === 'admin',
    config: config.data ?? { temporal_ui: null, namespace: 'default', installation: '' },
    signOut: () => {
      token.clear();
      queryClient.clear();
      setSignedIn(false);
    },
  };
  const current = route[0] === 'builds' ? 'servers' : (route[0] ?? 'servers');
  return (
    <SessionContext.Provider value={session}>
      <a href="#main" className="skip">
        Skip to content
      </a>
      <header>
        <strong className="brand">mcp-host</strong>
        <nav aria-label="Sections">
          {NAV.filter(([, , admin]) => !admin || session.isAdmin).map(([key, label]) => (
            <a key={key} href={`#/${key}`} aria-current={current === key ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span className="who">
          {me.data.email} <span className="role">({me.data.role})</span>
          <button type="button" onClick={session.signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </SessionContext.Provider>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <App />
    </QueryClientProvider>
  </StrictMode>,
);
