# `xcensus caps verify` / `verify-all` end to end: exit codes and the
# figures the documentation quotes (no services needed).
set(XC_CAPS_CORPUS ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/disco)
set(XC_CAPSDB ${PROJECT_SOURCE_DIR}/tests/data/capsdb/capsdb.jsonl)

add_test(NAME integration.caps_verify_all
  COMMAND $<TARGET_FILE:xcensus> caps verify-all --by-node ${XC_CAPSDB})
set_tests_properties(integration.caps_verify_all PROPERTIES LABELS integration TIMEOUT 120
  PASS_REGULAR_EXPRESSION "1611 entries, 0 bad lines.*valid +strict +1578.*ill-formed +lenient +33.*duplicate-feature 33.*0 disagree.*process-one.net/en/ejabberd/ +valid=9")

add_test(NAME integration.caps_verify_valid
  COMMAND $<TARGET_FILE:xcensus> caps verify ${XC_CAPS_CORPUS}/vec-spec-xep0115-complex.xml)
set_tests_properties(integration.caps_verify_valid PROPERTIES LABELS integration TIMEOUT 60
  PASS_REGULAR_EXPRESSION "sha-1 +q07IKJEyjvHSyhy//CH0CxmKi8w=.*outcome: valid.*matched_by: strict")

# exit status 1 on mismatch, 2 on usage errors (sh checks the exact code)
add_test(NAME integration.caps_verify_exit_codes
  COMMAND sh -c "x=$0; d=$1
    $x caps verify --ver AAAA $d/vec-spec-xep0115-simple.xml >/dev/null; [ $? -eq 1 ] || exit 1
    $x caps verify $d/bad-utf8.xml >/dev/null; [ $? -eq 1 ] || exit 1
    $x caps verify --no-such-option >/dev/null 2>&1; [ $? -eq 2 ] || exit 1
    $x caps verify --json --hash sha-1 < $d/vec-spec-xep0115-simple.xml | grep -q '\"outcome\": \"valid\"' || exit 1
    $x caps verify-all --json $1/../../../data/capsdb/capsdb.jsonl | tail -n 1 | grep -q '\"valid\": *{\"strict\": *1578}' || exit 1
    echo ok"
    $<TARGET_FILE:xcensus> ${XC_CAPS_CORPUS})
set_tests_properties(integration.caps_verify_exit_codes PROPERTIES LABELS integration TIMEOUT 60
  PASS_REGULAR_EXPRESSION "^ok")
