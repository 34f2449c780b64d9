// Users and tokens (admins): create users, create tokens (shown once), revoke.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { call, client, type Schemas } from '../api';
import { CopyButton, ErrorDisplay, Section, When } from '../ui';

export function UsersPage() {
  const qc = useQueryClient();
  const users = useQuery({ queryKey: ['users'], queryFn: () => call(client.GET('/api/users')) });
  const tokens = useQuery({ queryKey: ['tokens'], queryFn: () => call(client.GET('/api/tokens')) });
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Schemas['CreateUser']['role']>('operator');
  const [created, setCreated] = useState<string | null>(null);
  const addUser = useMutation({
    mutationFn: () => call(client.POST('/api/users', { body: { email, role } as Schemas['CreateUser'] })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['users'] }),
  });
  const addToken = useMutation({
    mutationFn: (userId: number) =>
      call(client.POST('/api/tokens', { body: { name: 'console', user_id: userId } as Schemas['CreateToken'] })),
    onSuccess: (t) => {
      setCreated(t.token);
      void qc.invalidateQueries({ queryKey: ['tokens'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: number) => call(client.DELETE('/api/tokens/{id}', { params: { path: { id: String(id) } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['tokens'] }),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    addUser.mutate();
  };
  return (
    <>
      <h1>Users and tokens</h1>
      <form onSubmit={submit} className="filters" aria-label="Create a user">
        <label>
          Email <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          Role{' '}
          <select value={role} onChange={(e) => setRole(e.target.value as typeof role)}>
            <option>operator</option>
            <option>viewer</option>
            <option>admin</option>
          </select>
        </label>
        <button type="submit">Create user</button>
      </form>
      <ErrorDisplay error={users.error ?? tokens.error ?? addUser.error ?? addToken.error ?? revoke.error} />
      {created ? (
        <p role="status" className="card">
          New token (shown once): <code>{created}</code> <CopyButton text={created} label="Copy token" />
        </p>
      ) : null}
      <Section title="Users">
        <ul>
          {(users.data ?? []).map((u) => (
            <li key={u.id}>
              {u.email} ({u.role}, quota {u.server_quota}){' '}
              <button type="button" onClick={() => addToken.mutate(u.id)}>
                New token for {u.email}
              </button>
            </li>
          ))}
        </ul>
      </Section>
      <Section title="Tokens">
        <ul>
          {(tokens.data ?? []).map((t) => (
            <li key={t.id}>
              {t.name} <code>{t.prefix}…</code> user {t.user_id}, created <When at={t.created_at} />, last used{' '}
              <When at={t.last_used_at} />
              {t.revoked_at ? (
                ' (revoked)'
              ) : (
                <button type="button" onClick={() => revoke.mutate(t.id)}>
                  Revoke {t.name} {t.id}
                </button>
              )}
            </li>
          ))}
        </ul>
      </Section>
    </>
  );
}
