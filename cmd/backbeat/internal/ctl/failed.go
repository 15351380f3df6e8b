package ctl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
)

// maxPages bounds how many pages --all follows, should a listing never end.
const maxPages = 100000

func (c *ctl) failedList(ctx context.Context, site string, marker int64, all bool) error {
	if site == "" && marker != 0 {
		return errors.New("ctl: --marker needs --site: markers are per site")
	}
	if marker < 0 {
		return errors.New("ctl: --marker must not be negative")
	}
	sites := []string{site}
	if site == "" {
		var err error
		if sites, err = c.sites(ctx); err != nil {
			return err
		}
	}
	pages := make(map[string]apiclient.FailedPage, len(sites))
	for _, s := range sites {
		page, err := c.listSite(ctx, s, marker, all)
		if err != nil {
			return err
		}
		pages[s] = page
	}
	if c.json {
		if site != "" {
			return c.printJSON(pages[site])
		}
		return c.printJSON(pages)
	}
	var versions []apiclient.FailedVersion
	for _, s := range sites {
		versions = append(versions, pages[s].Versions...)
	}
	if len(versions) == 0 {
		if site != "" {
			fmt.Fprintf(c.out, "no failed entries for site %s\n", site)
		} else {
			fmt.Fprintln(c.out, "no failed entries")
		}
	} else if err := c.failedTable(versions); err != nil {
		return err
	}
	for _, s := range sites {
		if p := pages[s]; p.IsTruncated && p.NextMarker != nil {
			fmt.Fprintf(c.out, "more entries for %s: backbeat ctl failed list --site %s --marker %d (or --all)\n", s, s, *p.NextMarker)
		}
	}
	return nil
}

// listSite returns one page of site's failed entries, or, with all, every
// page merged into one.
func (c *ctl) listSite(ctx context.Context, site string, marker int64, all bool) (apiclient.FailedPage, error) {
	var merged apiclient.FailedPage
	for range maxPages {
		page, err := call(ctx, c, func(ctx context.Context) (apiclient.FailedPage, error) { return c.client.ListFailed(ctx, site, marker) })
		if err != nil {
			return page, err
		}
		if !all {
			return page, nil
		}
		merged.Versions = append(merged.Versions, page.Versions...)
		if !page.IsTruncated || page.NextMarker == nil {
			if merged.Versions == nil {
				merged.Versions = []apiclient.FailedVersion{}
			}
			return merged, nil
		}
		marker = *page.NextMarker
	}
	return merged, fmt.Errorf("ctl: the failed listing of %s did not end after %d pages", site, maxPages)
}

func (c *ctl) failedTable(versions []apiclient.FailedVersion) error {
	tw := c.table()
	fmt.Fprintln(tw, "SITE\tBUCKET\tKEY\tVERSION\tSIZE\tLAST MODIFIED")
	for _, v := range versions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.StorageClass, v.Bucket, v.Key, v.VersionID, humanBytes(v.Size), v.LastModified)
	}
	return tw.Flush()
}

func (c *ctl) failedShow(ctx context.Context, bucket, key, versionID string) error {
	page, err := call(ctx, c, func(ctx context.Context) (apiclient.FailedPage, error) {
		return c.client.FailedVersion(ctx, bucket, key, versionID)
	})
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(page)
	}
	if len(page.Versions) == 0 {
		fmt.Fprintf(c.out, "%s/%s version %s is not listed as failed at any site\n", bucket, key, versionID)
		return nil
	}
	return c.failedTable(page.Versions)
}

func (c *ctl) failedRetry(ctx context.Context, e apiclient.RetryEntry) error {
	out, err := call(ctx, c, func(ctx context.Context) ([]apiclient.RetriedVersion, error) {
		return c.client.Retry(ctx, []apiclient.RetryEntry{e})
	})
	if err != nil {
		return err
	}
	if c.json {
		if out == nil {
			out = []apiclient.RetriedVersion{}
		}
		if err := c.printJSON(out); err != nil {
			return err
		}
	}
	if len(out) == 0 {
		// The API skips an entry naming an unknown site, as upstream does:
		// say why here.
		if sites, err := c.sites(ctx); err == nil && !slices.Contains(sites, e.StorageClass) {
			return fmt.Errorf("not retried: %q is not a configured site (configured: %s)", e.StorageClass, strings.Join(sites, ", "))
		}
		if e.ForceRetry {
			return fmt.Errorf("not retried: %s/%s version %s does not exist or is not replicated to %s, or a retry of it is already in progress",
				e.Bucket, e.Key, e.VersionID, e.StorageClass)
		}
		return fmt.Errorf("not retried: %s/%s version %s is not listed as failed for %s, or a retry of it is already in progress (--force retries anyway)",
			e.Bucket, e.Key, e.VersionID, e.StorageClass)
	}
	if !c.json {
		for _, v := range out {
			fmt.Fprintf(c.out, "queued again for %s: %s/%s version %s (%s), now %s\n", v.StorageClass, v.Bucket, v.Key, v.VersionID, humanBytes(v.Size), v.ReplicationStatus)
		}
	}
	return nil
}
