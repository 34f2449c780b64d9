// Secrets (admins): names, versions and the servers that use each. A value goes in through a masked,
// uncontrolled input — React would copy a controlled input's value into the DOM's value attribute —
// and the form is emptied once the API has it; the API never answers a value, so none is shown back.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { call, client, type Schemas } from '../api';
import { ErrorDisplay, Section, Table, When, useSession } from '../ui';

/** The value field of a form, read once at submit time; the caller resets the form afterwards. */
const valueOf = (form: HTMLFormElement, name: string) => String(new FormData(form).get(name) ?? '');

function NewVersionForm({ secret, onDone }: { secret: Schemas['Secret']; onDone: (error: unknown) => void }) {
  const qc = useQueryClient();
  const update = useMutation({
    mutationFn: (value: string) =>
      call(client.PUT('/api/secrets/{name}', { params: { path: { name: secret.name } }, body: { value } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['secrets'] }),
  });
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    update.mutate(valueOf(form, 'value'), {
      onSuccess: () => {
        form.reset();
        onDone(null);
      },
      onError: onDone,
    });
  };
  const id = `new-value-${secret.name}`;
  return (
    <form onSubmit={submit} className="inline" aria-label={`New version of ${secret.name}`}>
      <label htmlFor={id}>New value for {secret.name}</label>
      <input id={id} name="value" type="password" autoComplete="off" spellCheck={false} required />
      <button type="submit" disabled={update.isPending}>
        Store version {secret.version + 1}
      </button>
    </form>
  );
}

export function SecretsPage() {
  const { isAdmin, me } = useSession();
  const qc = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const secrets = useQuery({
    queryKey: ['secrets'],
    enabled: isAdmin,
    queryFn: () => call(client.GET('/api/secrets')),
  });
  const create = useMutation({
    mutationFn: (body: Schemas['CreateSecret']) => call(client.POST('/api/secrets', { body })),
    onSuccess: (s) => {
      setNotice(`Stored ${s.name} (version ${s.version}); its value is not shown again.`);
      void qc.invalidateQueries({ queryKey: ['secrets'] });
    },
  });
  const remove = useMutation({
    mutationFn: (name: string) => call(client.DELETE('/api/secrets/{name}', { params: { path: { name } } })),
    onSuccess: (_, name) => {
      setNotice(`Deleted ${name}.`);
      void qc.invalidateQueries({ queryKey: ['secrets'] });
    },
  });
  if (!isAdmin) {
    return (
      <>
        <h1>Secrets</h1>
        <p>Only admins manage secrets here.</p>
      </>
    );
  }
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    create.mutate(
      { name: valueOf(form, 'name').trim(), value: valueOf(form, 'value') },
      { onSuccess: () => form.reset() },
    );
  };
  return (
    <>
      <h1>Secrets</h1>
      <form onSubmit={submit} className="card" aria-label="Create a secret">
        <label>
          Name{' '}
          <input
            name="name"
            required
            pattern="[a-z0-9]([a-z0-9._\-]{0,62}[a-z0-9])?"
            title="1-64 lowercase letters, digits, '.', '_' or '-', starting and ending with a letter or digit"
            autoComplete="off"
          />
        </label>
        <label>
          Value <input name="value" type="password" required autoComplete="off" spellCheck={false} />
        </label>
        <button type="submit" disabled={create.isPending}>
          Create secret
        </button>
        <p className="hint">The value is encrypted at once and never shown again, here or by the API.</p>
      </form>
      <ErrorDisplay error={secrets.error ?? create.error ?? remove.error ?? error} />
      {notice ? (
        <p role="status" className="card">
          {notice}
        </p>
      ) : null}
      <Section title="All secrets">
        <Table label="Secret list" columns={['Name', 'Version', 'Owner', 'Updated', 'Used by', 'Actions']}>
          {(secrets.data ?? []).map((s) => (
            <tr key={`${s.owner_id}/${s.name}`} data-secret={s.name}>
              <td>
                <code>{s.name}</code>
              </td>
              <td>{s.version}</td>
              <td>{s.owner_id === me.id ? 'you' : `user ${s.owner_id}`}</td>
              <td>
                <When at={s.updated_at} />
              </td>
              <td>
                {s.used_by.length
                  ? s.used_by.map((u, i) => (
                      <span key={u.id}>
                        {i ? ', ' : ''}
                        <a href={`#/servers/${u.id}`}>{u.name}</a>
                      </span>
                    ))
                  : 'no server'}
              </td>
              <td>
                {/* Only the owner's own secrets change: the API scopes writes to the caller. */}
                {s.owner_id === me.id ? (
                  <>
                    <NewVersionForm
                      secret={s}
                      onDone={(err) => {
                        setError(err);
                        if (!err) setNotice(`Stored a new version of ${s.name}.`);
                      }}
                    />
                    {s.used_by.length === 0 ? (
                      <button type="button" className="danger" onClick={() => remove.mutate(s.name)}>
                        Delete {s.name}
                      </button>
                    ) : (
                      <span className="hint">in use: cannot be deleted</span>
                    )}
                  </>
                ) : null}
              </td>
            </tr>
          ))}
        </Table>
        {secrets.data?.length === 0 ? <p>No secrets yet.</p> : null}
      </Section>
    </>
  );
}
