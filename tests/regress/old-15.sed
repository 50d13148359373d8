# sed -E script for tests/compare/compare --adjust-old: how PostgreSQL 15 prints these views
# differently from 17 for the same definition (docs/regress.md). From 16 on, a column of the
# only relation in a query is printed without the relation's name; each line removes that
# one qualifier inside that one view's CREATE statement, so any other change still shows (in
# three views only up to the first FROM: their subqueries keep the outer relation's name).
# 17 also prints XMLSERIALIZE's default NO INDENT (xmlview8, xmlview9).
/^CREATE MATERIALIZED VIEW public\.compressmv (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])cmdata1\./\1/g
/^CREATE VIEW public\.domview (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])domtab\./\1/g
/^CREATE OR REPLACE VIEW public\.key_dependent_view (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])view_base_table\./\1/g
/^CREATE OR REPLACE VIEW public\.key_dependent_view_no_cols (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])view_base_table\./\1/g
/^CREATE VIEW public\.limit_thousand_v_1 (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])onek\./\1/g
/^CREATE VIEW public\.limit_thousand_v_2 (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])onek\./\1/g
/^CREATE VIEW public\.limit_thousand_v_3 (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])onek\./\1/g
/^CREATE VIEW public\.limit_thousand_v_4 (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])onek\./\1/g
/^CREATE VIEW public\.limit_thousand_v_5 (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])onek\./\1/g
/^CREATE MATERIALIZED VIEW public\.mvtest_bb (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])mvtest_tvvmv\./\1/g
/^CREATE MATERIALIZED VIEW public\.mvtest_tm (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])mvtest_t\./\1/g
/^CREATE MATERIALIZED VIEW public\.mvtest_tmm (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])mvtest_tm\./\1/g
/^CREATE VIEW public\.mvtest_tv (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])mvtest_t\./\1/g
/^CREATE MATERIALIZED VIEW mvtest_mvschema\.mvtest_tvm (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])mvtest_tv\./\1/g
/^CREATE MATERIALIZED VIEW public\.mvtest_tvmm (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])mvtest_tvm\./\1/g
/^CREATE VIEW public\.mvtest_tvv (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])mvtest_tv\./\1/g
/^CREATE MATERIALIZED VIEW public\.mvtest_tvvm (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])mvtest_tvv\./\1/g
/^CREATE VIEW public\.mvtest_tvvmv (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])mvtest_tvvm\./\1/g
/^CREATE VIEW public\.my_property_normal (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])customer\./\1/g
/^CREATE VIEW public\.my_property_secure (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])customer\./\1/g
/^CREATE VIEW public\.nums (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])nums\./\1/g
/^CREATE VIEW public\.pfield_v1 (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])pf\./\1/g
/^CREATE VIEW public\.rtest_v1 (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])rtest_t1\./\1/g
/^CREATE VIEW public\.rtest_vview1 (WITH .*)?AS$/,/^ +FROM / s/(^|[^a-z_0-9."])x\./\1/g
/^CREATE VIEW public\.rtest_vview2 (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])rtest_view1\./\1/g
/^CREATE VIEW public\.rtest_vview3 (WITH .*)?AS$/,/^ +FROM / s/(^|[^a-z_0-9."])x\./\1/g
/^CREATE VIEW public\.rtest_vview5 (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])rtest_view1\./\1/g
/^CREATE VIEW public\.shoelace_candelete (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])shoelace_obsolete\./\1/g
/^CREATE VIEW public\.shoelace_obsolete (WITH .*)?AS$/,/^ +FROM / s/(^|[^a-z_0-9."])shoelace\./\1/g
/^CREATE VIEW public\.sums_1_100 (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])t\./\1/g
/^CREATE MATERIALIZED VIEW public\.tableam_tblmv_heap2 (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])tableam_tbl_heap2\./\1/g
/^CREATE VIEW public\.test_tablesample_v1 (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])test_tablesample\./\1/g
/^CREATE VIEW public\.test_tablesample_v2 (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])test_tablesample\./\1/g
/^CREATE VIEW public\.toyemp (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])emp\./\1/g
/^CREATE VIEW public\.xmltableview2 (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])"xmltable"\./\1/g
/^CREATE VIEW public\.xmlview4 (WITH .*)?AS$/,/;$/ s/(^|[^a-z_0-9."])emp\./\1/g
/^CREATE VIEW public\.xmlview8 AS$/,/;$/ s/(XMLSERIALIZE\(CONTENT .* AS [a-z]+(\([0-9]+\))?)\)/\1 NO INDENT)/
/^CREATE VIEW public\.xmlview9 AS$/,/;$/ s/(XMLSERIALIZE\(CONTENT .* AS [a-z]+(\([0-9]+\))?)\)/\1 NO INDENT)/
# 17 has a MAINTAIN privilege. A 15 table whose owner lost some of its privileges is dumped as a
# REVOKE of all of 15's privileges and a GRANT of the rest; restored on 17 the owner keeps MAINTAIN
# too, and 17 prints that as REVOKE ALL and a GRANT that includes MAINTAIN (datdba_only).
s/^REVOKE SELECT,INSERT,REFERENCES,DELETE,TRIGGER,TRUNCATE,UPDATE ON TABLE /REVOKE ALL ON TABLE /
s/^(GRANT SELECT,INSERT,REFERENCES,TRIGGER,TRUNCATE),UPDATE ON TABLE /\1,MAINTAIN,UPDATE ON TABLE /
