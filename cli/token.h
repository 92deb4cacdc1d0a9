/*
 * token.h - development keys and tokens for the local stack.
 *
 *   chatsync dev-keys DIR                     cli_token_dev_keys_command
 *   chatsync token USER_ID [--ttl SECONDS]    cli_token_command
 *
 * Both take the arguments from the subcommand on (argv[0] is "dev-keys" or
 * "token", argv[1] the first argument), print their result to stdout and any
 * error to stderr, and return the process's exit status: 0 done, 1 failed,
 * 2 bad usage.
 *
 * dev-keys writes DIR/dev-key.pem (an RSA 2048 private key, mode 0600) and
 * DIR/jwks.json (its public half, kid "dev-1", for JWKS_FILE), creating DIR;
 * when both files exist it leaves them alone.
 *
 * token prints an RS256 token for USER_ID signed with the key from
 * DEV_KEY_FILE, else $CHATSYNC_RUN_DIR/dev/dev-key.pem, else
 * .run/dev/dev-key.pem: header {"alg":"RS256","typ":"JWT","kid":"dev-1"},
 * claims sub, iss (https:// + CLERK_JWT_ISSUER_DOMAIN without its scheme,
 * default chatsync.local), iat, nbf, exp (now + SECONDS, default 3600), azp
 * when DEV_TOKEN_AZP is set and aud when JWT_AUDIENCE is set, so that the
 * services started with the same environment accept it.
 */
#ifndef CLI_TOKEN_H
#define CLI_TOKEN_H

int cli_token_dev_keys_command(int argc, char **argv);
int cli_token_command(int argc, char **argv);

#endif
