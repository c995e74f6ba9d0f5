"""What differs between the engines: how names compare, which functions are allowed, which
statements and nodes are never allowed, and how a filtered subquery is fenced."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp

_ASCII_UPPER_TO_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def ascii_lower(text: str) -> str:
    # Engines fold ASCII letters only (PostgreSQL in UTF-8, SQLite, DuckDB); str.lower() would also
    # fold letters like the Kelvin sign into "k" and match names the engine keeps apart.
    return text.translate(_ASCII_UPPER_TO_LOWER)


@dataclass(frozen=True)
class Rules:
    fold_quoted: bool  # quoted identifiers are case-insensitive too (SQLite, DuckDB, MySQL tables)
    fold_cte: bool  # CTE names compare case-insensitively (False where we are not sure: MySQL)
    implicit_schemas: frozenset[str]  # schema names meaning "the only schema" ("", "main")
    has_md5: bool
    # Keeps user predicates from being evaluated below the row filter (and failing on, hence
    # revealing, rows the filter removes): the engines do not push predicates into a subquery with
    # LIMIT/OFFSET. Measured: PostgreSQL does leak a division by zero on a hidden row without it.
    fence: tuple[str, int]  # ("offset" | "limit", value)
    functions: frozenset[str]  # names allowed when sqlglot parses them as anonymous functions


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Functions sqlglot models with a class: allowed by class (exact type), whatever the dialect calls
# them. Pure computations only: aggregates and windows, math, strings, dates, casts and conditionals,
# JSON and array accessors. Anything not listed (files, network, session, sequences, AI and
# engine-specific table functions, ...) is refused.
_ALLOWED_FUNCTION_NAMES = """
And Or Xor Pow RegexpLike ApproxDistinct Typeof
AnyValue ApproxQuantile ArgMax ArgMin ArrayAgg Avg Corr Count CountIf CovarPop CovarSamp CumeDist DenseRank
First FirstValue GroupConcat Grouping GroupingId Kurtosis Lag Last LastValue Lead LogicalAnd LogicalOr Max Median
Min Mode NthValue Ntile PercentRank PercentileCont PercentileDisc Quantile Rank RegrAvgx RegrAvgy RegrCount
RegrIntercept RegrR2 RegrSlope RegrSxx RegrSxy RegrSyy RowNumber Skewness Stddev StddevPop StddevSamp Sum Variance
VariancePop BitwiseAndAgg BitwiseOrAgg BitwiseXorAgg JSONArrayAgg JSONObjectAgg JSONBObjectAgg
Abs Acos Acosh Asin Asinh Atan Atan2 Atanh Cbrt Ceil Cos Cosh Cot Degrees Exp Factorial Floor IsInf IsNan Ln Log Pi
Radians Rand Round Sign Sin Sinh Sqrt Tan Tanh Trunc WidthBucket
Ascii BitLength Chr Concat ConcatWs Contains EndsWith Format Hex Initcap Left Length Levenshtein Lower LowerHex MD5
NumberToStr Overlay Pad RegexpCount RegexpExtract RegexpExtractAll RegexpILike RegexpInstr RegexpReplace RegexpSplit
RegexpSubstr Repeat Replace Reverse Right SHA SHA2 SHA2Digest Soundex Space Split SplitPart StartsWith StrPosition
Substring SubstringIndex ToBase64 FromBase64 ToChar ToNumber Translate Trim Unhex Unicode Upper Encode Decode
StringToArray
AddMonths CurrentDate CurrentDatetime CurrentTime CurrentTimestamp Date DateAdd DateBin DateDiff DateFromParts DateSub
DateStrToDate DateToDateStr DateTrunc Datetime DatetimeAdd DatetimeDiff DatetimeSub DatetimeTrunc Day DayOfMonth
DayOfWeek DayOfWeekIso DayOfYear Dayname Extract Hour JustifyDays JustifyHours JustifyInterval LastDay Localtime
Localtimestamp MakeInterval Minute Month Monthname MonthsBetween Quarter Second StrToDate StrToTime StrToUnix Time
TimeAdd TimeDiff TimeFromParts TimeStrToDate TimeStrToTime TimeStrToUnix TimeSub TimeToStr TimeToTimeStr TimeToUnix
TimeTrunc Timestamp TimestampAdd TimestampDiff TimestampFromParts TimestampSub TimestampTrunc ToDays TsOrDsAdd
TsOrDsDiff TsOrDsToDate TsOrDsToDateStr TsOrDsToTimestamp UnixDate UnixToStr UnixToTime UnixToTimeStr UnixSeconds
Week WeekOfYear Year YearOfWeek ConvertTimezone
Case Cast TryCast CastToStrType Coalesce Collate Convert Exists Greatest Least If Nullif Nvl2 Uuid
JSONExtract JSONExtractScalar JSONBExtract JSONBExtractScalar JSONExtractArray JSONArray JSONObject JSONKeys JSONType
JSONFormat JSONBContains JSONBExists JSONExists JSONValue ParseJSON
Array ArrayContains ArrayContainsAll ArrayContainedBy ArrayOverlaps ArrayConcat ArrayToString ArraySize ArrayPosition
ArraySlice ArrayDistinct ArraySort ArrayFilter Transform Struct StructExtract
Explode Unnest GenerateSeries ExplodingGenerateSeries
"""
ALLOWED_FUNCTION_CLASSES: frozenset[type[exp.Expr]] = frozenset(
    cls for name in _ALLOWED_FUNCTION_NAMES.split() if isinstance(cls := getattr(exp, name, None), type)
)
# Table-valued functions allowed in FROM/JOIN/LATERAL: bounded by the timeout and the row cap.
TABLE_FUNCTION_CLASSES: tuple[type[exp.Expr], ...] = (
    exp.GenerateSeries,
    exp.ExplodingGenerateSeries,
    exp.Unnest,
    exp.Explode,
)

# Names sqlglot does not model, per dialect. Deliberately absent, among others: pg_sleep*, pg_read_file,
# pg_ls_dir, lo_*, dblink*, set_config, current_setting (server configuration is not data and can hold
# paths and secrets), pg_terminate/cancel_backend, advisory locks, txid_*, query_to_xml and friends
# (they run SQL given as text); MySQL sleep, benchmark, load_file, get_lock, user(), version(); SQLite
# load_extension, readfile, writefile, fts3_tokenizer, randomblob/zeroblob (memory); DuckDB read_*,
# parquet_*, glob, query, query_table, getenv, duckdb_*, list_aggregate (calls functions by name).
_COMMON_FUNCTIONS = """
abs ceil ceiling floor round trunc sign sqrt cbrt power pow exp ln log log2 log10 mod pi degrees radians
lower upper length substr substring trim ltrim rtrim replace reverse repeat concat concat_ws coalesce nullif
greatest least ifnull octet_length char_length instr left right lpad rpad printf format
"""
_POSTGRES_FUNCTIONS = """
gcd lcm every jsonb_agg regexp_matches regexp_match regexp_split_to_array regexp_count regexp_instr quote_ident
quote_literal quote_nullable cardinality clock_timestamp statement_timestamp transaction_timestamp age make_date
make_time make_timestamptz jsonb_extract_path jsonb_extract_path_text json_build_object jsonb_build_object
json_build_array jsonb_build_array to_json to_jsonb row_to_json array_to_json json_array_length jsonb_array_length
json_typeof jsonb_typeof jsonb_pretty json_strip_nulls jsonb_strip_nulls json_object_keys jsonb_object_keys xpath
xpath_exists xmlelement xmlforest xmlagg pg_typeof num_nulls num_nonnulls isfinite array_upper array_lower array_dims
array_ndims array_remove array_replace array_cat array_append array_prepend bit_count scale trim_scale min_scale
div btrim chr initcap split_part strpos to_char to_date to_timestamp to_number date_part date_trunc timezone
string_to_array array_to_string
"""
_MYSQL_FUNCTIONS = """
now curdate curtime sysdate utc_date utc_time utc_timestamp unix_timestamp dayname monthname from_days to_seconds
time_to_sec sec_to_time makedate maketime period_add period_diff timediff addtime subtime adddate subdate weekday
yearweek convert_tz isnull lcase ucase mid field find_in_set elt locate strcmp space quote crc32 conv bin oct
truncate json_length json_unquote json_contains json_contains_path json_valid json_array json_quote json_depth
json_search json_overlaps json_pretty json_arrayagg json_objectagg std bit_count regexp_instr regexp_substr
from_base64 to_base64 sha date_format str_to_date last_day week weekofyear
"""
_SQLITE_FUNCTIONS = """
julianday unixepoch date time datetime strftime iif quote char unicode total json json_array json_array_length
json_extract json_type json_valid json_quote json_object json_group_array json_group_object json_patch json_remove
json_set json_insert json_replace likelihood likely unlikely hex typeof acos asin atan atan2 cos sin tan
"""
_DUCKDB_FUNCTIONS = """
gcd lcm btrim regexp_split_to_array age date_part datepart date_sub date_diff datediff now today epoch epoch_ms
epoch_us make_date make_time make_timestamp strptime strftime dayname monthname yearweek isodow isoyear to_json
json_array_length json_keys json_valid json_type json_extract_string json_group_array json_group_object json_object
json_array json_quote list_value list_extract list_contains list_distinct list_sort array_length len struct_pack
struct_extract contains prefix suffix starts_with ends_with string_split str_split regexp_full_match regexp_extract
regexp_matches md5 sha256 levenshtein jaccard jaro_winkler_similarity damerau_levenshtein hamming if typeof
bit_length ascii chr unicode nfc_normalize strip_accents translate position strpos lcase ucase random even factorial
isnan isinf isfinite quantile_cont quantile_disc median mode arg_max arg_min max_by min_by bool_and bool_or fsum favg
list string_agg group_concat approx_count_distinct approx_quantile first last any_value entropy kurtosis skewness
product time_bucket date_trunc datetrunc date_add last_day century decade era millennium week weekday weekofyear
day dayofmonth dayofweek dayofyear hour minute second microsecond millisecond quarter year month to_days to_hours
to_minutes to_seconds to_years to_months to_weeks to_timestamp timezone
"""

RULES: Mapping[str, Rules] = {
    "postgres": Rules(
        fold_quoted=False,
        fold_cte=True,
        implicit_schemas=frozenset(),
        has_md5=True,
        fence=("offset", 0),
        functions=_names(_COMMON_FUNCTIONS + _POSTGRES_FUNCTIONS),
    ),
    "mysql": Rules(
        fold_quoted=True,
        fold_cte=False,
        implicit_schemas=frozenset(),
        has_md5=True,
        fence=("limit", 18446744073709551615),  # the documented "no limit" of MySQL/MariaDB
        functions=_names(_COMMON_FUNCTIONS + _MYSQL_FUNCTIONS),
    ),
    "sqlite": Rules(
        fold_quoted=True,
        fold_cte=True,
        implicit_schemas=frozenset({"", "main"}),
        has_md5=False,
        fence=("limit", -1),  # SQLite's "no limit"
        functions=_names(_COMMON_FUNCTIONS + _SQLITE_FUNCTIONS),
    ),
    "duckdb": Rules(
        fold_quoted=True,
        fold_cte=True,
        implicit_schemas=frozenset({"", "main"}),
        has_md5=True,
        fence=("offset", 0),
        functions=_names(_COMMON_FUNCTIONS + _DUCKDB_FUNCTIONS),
    ),
}


def _classes(*names: str) -> tuple[type[exp.Expr], ...]:
    return tuple(cls for name in names if isinstance(cls := getattr(exp, name, None), type))


# Never allowed, wherever they appear: they write files, change the session or the transaction,
# lock, run other SQL, read server variables or take bind parameters the gateway does not send.
FORBIDDEN_NODES = _classes(
    "Into", "Lock", "Copy", "Attach", "Detach", "Set", "Pragma", "Transaction", "Commit", "Rollback", "Grant",
    "Revoke", "Command", "Install", "Use", "Kill", "Hint", "Analyze", "Export", "LoadData", "Cache", "Uncache",
    "Refresh", "Declare", "Execute", "ObjectIdentifier", "Parameter", "SessionParameter", "Placeholder",
)  # fmt: skip
FORBIDDEN_KEYWORDS = _names("""
ATTACH BEGIN CALL CHECKPOINT CLUSTER COMMIT COPY DEALLOCATE DETACH DISCARD DO END EXECUTE EXPORT GRANT HANDLER IMPORT
INSTALL KILL LISTEN LOAD LOCK NOTIFY PRAGMA PREPARE REFRESH REINDEX RELEASE RESET REVOKE ROLLBACK SAVEPOINT SECURITY
SET START UNLISTEN UNLOCK USE VACUUM ANALYZE OUTFILE DUMPFILE
""")
DML_NODES = (exp.Insert, exp.Update, exp.Delete, exp.Merge)
DDL_NODES = (exp.Create, exp.Drop, exp.Alter, exp.TruncateTable, exp.Comment)
READ_NODES = (exp.Select, exp.SetOperation, exp.Subquery, exp.Values)
# Table modifiers that still make sense on the base table inside the rewritten subquery.
CARRIED_TABLE_ARGS = ("only", "sample", "hints", "indexed", "partition", "version")
MOVED_TABLE_ARGS = ("joins", "laterals", "pivots")
TABLE_NAME_ARGS = ("this", "db", "catalog", "alias")
