# Tokens for R code, from the `hubtokens` command: the same client, cache policy and errors as
# the Python library (docs/tokens-everywhere.md).

run <- function(args) {
  err <- tempfile()
  on.exit(unlink(err))
  out <- suppressWarnings(system2("hubtokens", shQuote(args), stdout = TRUE, stderr = err))
  status <- attr(out, "status")
  if (!is.null(status) && status != 0) {
    line <- paste(readLines(err, warn = FALSE), collapse = " ")
    code <- sub("^hubtokens: ([a-z_]+): .*$", "\\1", line)
    if (identical(code, line)) code <- "error"
    message <- sub("^hubtokens: [a-z_]+: ", "", line)
    stop(structure(
      class = c(paste0("hubtokens_", code), "hubtokens_error", "error", "condition"),
      list(message = message, call = NULL, code = code, status = status)
    ))
  }
  out
}

#' A token for `audience` with the scopes asked for (none: the API's default scopes).
#' It lives a few minutes: ask again rather than keeping it.
get <- function(audience, scope = character()) {
  out <- run(c("get", audience, scope))
  out[[length(out)]]
}

#' The `Authorization` header value for a token: "Bearer <token>".
bearer <- function(audience, scope = character()) {
  paste("Bearer", get(audience, scope))
}

#' What you may ask for: every API and scope, and whether you hold the scope's role now.
available <- function() {
  jsonlite::fromJSON(paste(run(c("list", "--json")), collapse = "\n"), simplifyVector = FALSE)
}
