/**
 * Workspaces: one git mirror per repository and one git worktree per job, credentials through
 * GIT_ASKPASS only. Entry point: {@link WorkspaceManager}; helpers `resolveCloneUrl`, `branchName`.
 */
export { WorkspaceManager } from './workspace-manager';
export { resolveCloneUrl, assertRemoteUrl, DEFAULT_CLONE_URL_TEMPLATE, REPOSITORY_PLACEHOLDER, type CloneUrlTemplates } from './remote-url';
export { branchName, assertJobId, isValidJobId, BRANCH_PREFIX } from './branch-name';
export { WorkspaceError, isWorkspaceError, WORKSPACE_ERROR_CODES, type WorkspaceErrorCode } from './workspace.errors';
export { TOKEN_ENV, TOKEN_USERNAME } from './askpass';
export { GIT_SAFETY_CONFIG, DEFAULT_PASS_ENV } from './git-runner';
export type * from './workspace.types';
