// Custom search attributes that make mcp-host's workflows findable in the Temporal Web UI.
// Workflow-safe (only @temporalio/common), so workflows may upsert them. Temporal stores and shows
// search attributes in clear (the payload codec does not cover them): each is an id, a status, a
// revision, a digest or a name of the platform's own, never a config value or anything a secret could be.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const ServerIdKey = defineSearchAttributeKey('ServerId', SearchAttributeType.KEYWORD);
export const ServerStatusKey = defineSearchAttributeKey('ServerStatus', SearchAttributeType.KEYWORD);
export const RevisionKey = defineSearchAttributeKey('Revision', SearchAttributeType.KEYWORD);
export const ManifestDigestKey = defineSearchAttributeKey('ManifestDigest', SearchAttributeType.KEYWORD);
/** Promotions: the track's tier and the stage being promoted to. */
export const TierKey = defineSearchAttributeKey('Tier', SearchAttributeType.KEYWORD);
export const StageKey = defineSearchAttributeKey('Stage', SearchAttributeType.KEYWORD);

/** Every custom attribute, as registered on the namespace at worker start and by the dev stack. */
export const CUSTOM_SEARCH_ATTRIBUTES = [
  ServerIdKey,
  ServerStatusKey,
  RevisionKey,
  ManifestDigestKey,
  TierKey,
  StageKey,
];
